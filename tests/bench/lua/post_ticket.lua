-- POST a new ticket (JSON) with a bearer token.  args: token
function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"title": "Benchmark ticket", "description": "Created by make bench to measure ' ..
    'POST /tickets through the gateway.", "category": "support", "priority": "low"}'
end
