-- POST <prefix><random id in first..first+count-1>/comments with a bearer token.
-- args: token prefix first count
local token, prefix, first, count

function init(args)
  token, prefix, first, count = args[1], args[2], tonumber(args[3]), tonumber(args[4])
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"body": "Thanks, we are looking into it. Could you send a screenshot of the error?"}'
end

function request()
  return wrk.format("POST", prefix .. math.random(first, first + count - 1) .. "/comments")
end
