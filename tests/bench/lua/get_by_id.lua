-- GET <prefix><random id in 1..max_id> with a bearer token.
-- args: token prefix max_id
local token, prefix, max_id

function init(args)
  token, prefix, max_id = args[1], args[2], tonumber(args[3])
  -- A different sequence per thread (wrk runs init once per thread, each in its own Lua state).
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  wrk.headers["Authorization"] = "Bearer " .. token
end

function request()
  return wrk.format("GET", prefix .. math.random(1, max_id))
end
