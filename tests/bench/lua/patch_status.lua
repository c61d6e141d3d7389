-- PATCH <prefix><id> {"status": ...} with a bearer token, every request a move the rules allow.
-- args: token prefix first_id per_thread
-- Each wrk thread walks its own block of `per_thread` tickets (all in_progress at the start),
-- moving each to resolved; a second pass would move them back to in_progress. A ticket is asked
-- again only after its whole block, so two connections never race on one ticket.
local counter = 0
function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
end

local token, prefix, first, per_thread, n

function init(args)
  token, prefix = args[1], args[2]
  first, per_thread = tonumber(args[3]), tonumber(args[4])
  first = first + index * per_thread
  n = 0
  wrk.method = "PATCH"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local id = first + (n % per_thread)
  local status = (math.floor(n / per_thread) % 2 == 0) and "resolved" or "in_progress"
  n = n + 1
  return wrk.format(nil, prefix .. id, nil, '{"status": "' .. status .. '"}')
end
