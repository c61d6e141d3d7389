-- POST /auth/refresh (JSON body). Each refresh token works once, so every thread keeps a pool
-- of them: a request takes one, its answer puts the session's next one back. The pool starts
-- with more tokens than the thread has connections, so it never runs dry while answers are
-- 200s (a failed answer loses its token; the pool then shrinks, and an empty pool sends a
-- spent token, counted as an error).  args: tokens file (one per line), tokens per thread
local threads_made = 0

function setup(thread)
  thread:set("thread_index", threads_made)
  threads_made = threads_made + 1
end

function init(args)
  local all = {}
  for line in io.lines(args[1]) do all[#all + 1] = line end
  local per_thread = tonumber(args[2])
  pool = {}
  for i = thread_index * per_thread + 1, (thread_index + 1) * per_thread do pool[#pool + 1] = all[i] end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local token = table.remove(pool, 1) or "spent"
  return wrk.format(nil, nil, nil, '{"refresh_token": "' .. token .. '"}')
end

function response(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if next_token then pool[#pool + 1] = next_token end
end
