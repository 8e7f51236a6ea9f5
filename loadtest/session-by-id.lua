-- wrk script: POST the same `session(id)` query over and over.
-- Usage: SESSION_ID=<id> wrk -t2 -c64 -d10s --latency -s loadtest/session-by-id.lua http://127.0.0.1:8080/graphql
local id = os.getenv("SESSION_ID") or error("set SESSION_ID to an existing session id")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"query":"query($id: ID!) { session(id: $id) { id userId active requestTime data } }",'
  .. '"variables":{"id":"' .. id .. '"}}'
