-- POST /v1/sessions/store_session_data round-robin over many sessions (env SESSION_IDS,
-- comma-separated), so that concurrent writes mostly change different sessions, as different
-- users' requests do. (The kit's store_session_data.lua writes one session from every
-- connection; the service orders the changes of one session, so those never overlap.)
-- Needs the kit's common.lua: WRK_DIR=/work/shared/bench/wrk.
dofile((os.getenv("WRK_DIR") or ".") .. "/common.lua")
local ids = {}
for id in string.gmatch(os.getenv("SESSION_IDS") or error("SESSION_IDS is not set"), "[^,]+") do
   table.insert(ids, id)
end
local path = (os.getenv("BASE_PATH") or "") .. "/v1/sessions/store_session_data"
local headers = { ["Content-Type"] = "application/json" }
local next_id = 0
function request()
   next_id = next_id % #ids + 1
   local body = '{"session_id":"' .. ids[next_id] .. '","data":{"theme":"light","counter":2,"cart":[1,2,3]}}'
   return wrk.format("POST", path, headers, body)
end
done = report
