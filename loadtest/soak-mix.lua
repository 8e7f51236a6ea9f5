-- wrk script: the soak mix, POST /graphql over many users (driven by loadtest/soak.py; see the
-- README's "Soak test"). Each request is one of:
--   openSession, session(id), storeSessionData, sessions(filter:{userId}, paging:{take:20}),
--   closeSession, deleteSession (housekeeping, see below), closeExpiredSessions (1 in 1000).
--
-- Every wrk thread keeps the sessions it opened (ids captured from the answers) in queues,
-- by age on a monotonic clock, so no request can meet a session that expiry closed:
--   hot        younger than 0.3 x EXPIRE: the targets of session(id) and storeSessionData;
--   cooling    0.3-0.5 x EXPIRE: left alone, so no write is in flight when it is closed;
--   closed     closeSession at 0.5 x EXPIRE (well before expiry), deleteSession 0.3 x EXPIRE
--              later: the store keeps a steady number of sessions (the service keeps closed
--              sessions for good, so without deletes the store, and RSS, grow by design);
--   abandoned  1 opened session in 20 is never touched again: the server's cleanup task (or a
--              closeExpiredSessions call) closes it; once older than EXPIRE + 2 x CLEANUP + 3 s
--              it is deleted, and its answer must say `active: false` (else: a late expiry).
-- So SESSION_CLOSED is never expected: it is counted on its own, and as an error.
--
-- Counted as errors: statuses other than 200 (non_200), socket errors and timeouts (wrk's
-- own counts), answers with "errors" (bad_body; SESSION_CLOSED apart), answers without the
-- expected shape (a missing or closed hot session, a null deleteSession, ...), late expiries.
-- done() prints one line `SOAK key=value ...` (and `SOAKBAD <body>` for the first bad answer).
--
-- Env: SOAK_RATE (requests/s over all threads; 0 or unset = as fast as possible),
--      SOAK_THREADS (the -t value, default 1), SOAK_EXPIRE, SOAK_CLEANUP (seconds, the
--      server's --expire-timeout and --cleanup-interval), SOAK_USERS (default 5000),
--      SOAK_USER_PREFIX (default u-soak-), GQL_PATH (default /graphql).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clk_id, soak_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("soak_timespec")
-- wrk gives Lua no clock; os.time() has whole seconds only, too coarse for a rate schedule.
local function now()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
   return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function env_number(name, default)
   local v = tonumber(os.getenv(name) or "")
   if v == nil then return default end
   return v
end

local RATE = env_number("SOAK_RATE", 0)
local THREADS = env_number("SOAK_THREADS", 1)
local EXPIRE = env_number("SOAK_EXPIRE", 10)
local CLEANUP = env_number("SOAK_CLEANUP", 2)
local USERS = env_number("SOAK_USERS", 5000)
local PREFIX = os.getenv("SOAK_USER_PREFIX") or "u-soak-"

local HOT_AGE = 0.3 * EXPIRE
local CLOSE_AGE = 0.5 * EXPIRE
local KEEP_CLOSED = 0.3 * EXPIRE
local CHECK_AGE = EXPIRE + 2 * CLEANUP + 3
local ABANDON_ONE_IN = 20
local EXPIRE_CALL_ONE_IN = 1000
-- Weights of the operations chosen at random (housekeeping comes on top, when due).
local W_OPEN, W_GET, W_STORE, W_LIST = 15, 40, 25, 20
-- A thread more than this far behind its schedule drops the missed slots instead of bursting.
local MAX_LAG = 1.0

wrk.method = "POST"
wrk.path = os.getenv("GQL_PATH") or "/graphql"
wrk.headers["Content-Type"] = "application/json"

-- Per-thread counters (each wrk thread has its own Lua state; done() sums them).
ops_open, ops_get, ops_store, ops_list, ops_close, ops_delete, ops_check, ops_expire = 0, 0, 0, 0, 0, 0, 0, 0
non_200, bad_body, session_closed, late_expiry = 0, 0, 0, 0
expired_seen, expire_call_closed, lagged = 0, 0, 0
first_bad = ""

local threads = {}
function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

function init(args)
   math.randomseed((tid or 1) * 7919 + os.time())
end

-- A FIFO queue of {id, t}: random access by index between first and last.
local function queue() return { first = 1, last = 0 } end
local function size(q) return q.last - q.first + 1 end
local function push(q, v) q.last = q.last + 1; q[q.last] = v end
local function peek(q) return q[q.first] end
local function pop(q)
   local v = q[q.first]
   q[q.first] = nil
   q.first = q.first + 1
   return v
end

local hot, cooling, closed, abandoned = queue(), queue(), queue(), queue()
local serial = 0

local function gql(query, variables)
   return wrk.format(nil, nil, nil, '{"query":"' .. query .. '","variables":' .. variables .. '}')
end
local function id_vars(id) return '{"id":"' .. id .. '"}' end
local function random_user() return PREFIX .. math.random(USERS) end

local OPEN = "mutation($i: OpenSessionInput!){ openSession(input:$i){ id } }"
local GET = "query($id: ID!){ session(id:$id){ id userId active requestTime data } }"
local STORE = "mutation($id: ID!, $d: JSON){ storeSessionData(sessionId:$id, data:$d){ id requestTime } }"
local LIST = "query($u: String!){ sessions(filter:{userId:$u}, paging:{take:20}){ data { id active requestTime } } }"
local CLOSE = "mutation($id: ID!){ closeSession(sessionId:$id){ id active } }"
-- Aliases name the kind of delete in the answer, so response() needs no request bookkeeping.
local DELETE = "mutation($id: ID!){ deleteClosed: deleteSession(sessionId:$id){ id active } }"
local CHECK = "mutation($id: ID!){ deleteExpired: deleteSession(sessionId:$id){ id active } }"
local EXPIRE_CALL = "mutation{ closeExpiredSessions }"

local function open_request()
   ops_open = ops_open + 1
   return gql(OPEN, '{"i":{"userId":"' .. random_user() .. '","userName":"Soak User",'
      .. '"address":"127.0.0.1","client":"wrk soak","user":{"id":"u","roles":["user"]},'
      .. '"data":{"theme":"dark","counter":0}}}')
end

local function pick_hot() return hot[hot.first + math.random(0, size(hot) - 1)] end

-- The due housekeeping request, oldest first, or nil: closing, deleting, checking expiry.
local function housekeeping(t)
   while size(hot) > 0 and t - peek(hot).t >= HOT_AGE do push(cooling, pop(hot)) end
   local s = peek(cooling)
   if s and t - s.t >= CLOSE_AGE then
      pop(cooling)
      push(closed, { id = s.id, t = t })
      ops_close = ops_close + 1
      return gql(CLOSE, id_vars(s.id))
   end
   s = peek(closed)
   if s and t - s.t >= KEEP_CLOSED then
      pop(closed)
      ops_delete = ops_delete + 1
      return gql(DELETE, id_vars(s.id))
   end
   s = peek(abandoned)
   if s and t - s.t >= CHECK_AGE then
      pop(abandoned)
      ops_check = ops_check + 1
      return gql(CHECK, id_vars(s.id))
   end
   return nil
end

function request()
   local due = housekeeping(now())
   if due then return due end
   if math.random(EXPIRE_CALL_ONE_IN) == 1 then
      ops_expire = ops_expire + 1
      return gql(EXPIRE_CALL, "{}")
   end
   if size(hot) == 0 then return open_request() end
   local r = math.random(W_OPEN + W_GET + W_STORE + W_LIST)
   if r <= W_OPEN then return open_request() end
   r = r - W_OPEN
   if r <= W_GET then
      ops_get = ops_get + 1
      return gql(GET, id_vars(pick_hot().id))
   end
   r = r - W_GET
   if r <= W_STORE then
      ops_store = ops_store + 1
      serial = serial + 1
      return gql(STORE, '{"id":"' .. pick_hot().id .. '","d":{"theme":"light","counter":' .. serial .. '}}')
   end
   ops_list = ops_list + 1
   return gql(LIST, '{"u":"' .. random_user() .. '"}')
end

local function reject(body)
   bad_body = bad_body + 1
   if first_bad == "" then first_bad = body:sub(1, 400) end
end

-- Which operation answered: the first key under the top-level "data".
function response(status, headers, body)
   if status ~= 200 then
      non_200 = non_200 + 1
      if first_bad == "" then first_bad = status .. " " .. body:sub(1, 400) end
      return
   end
   if body:find('"errors"', 1, true) then
      if not body:find('"SESSION_CLOSED"', 1, true) then return reject(body) end
      session_closed = session_closed + 1
      if first_bad == "" then first_bad = body:sub(1, 400) end
      return
   end
   local op = body:match('"data":{"(%w+)"')
   if op == "openSession" then
      local id = body:match('"id":"(%x+)"')
      if not id then return reject(body) end
      if math.random(ABANDON_ONE_IN) == 1 then
         push(abandoned, { id = id, t = now() })
      else
         push(hot, { id = id, t = now() })
      end
   elseif op == "session" then
      -- hot sessions are young and never closed: missing or closed is a failure
      if not body:find('"active":true', 1, true) then return reject(body) end
   elseif op == "storeSessionData" or op == "sessions" then
      return
   elseif op == "closeSession" or op == "deleteClosed" then
      if not body:find('"active":false', 1, true) then return reject(body) end
   elseif op == "deleteExpired" then
      if body:find('"active":false', 1, true) then
         expired_seen = expired_seen + 1
      elseif body:find('"active":true', 1, true) then
         late_expiry = late_expiry + 1
         if first_bad == "" then first_bad = "late expiry: " .. body:sub(1, 400) end
      else
         return reject(body)
      end
   elseif op == "closeExpiredSessions" then
      expire_call_closed = expire_call_closed + (tonumber(body:match('"closeExpiredSessions":(%d+)')) or 0)
   else
      return reject(body)
   end
end

-- Rate limit: each thread sends on a fixed schedule of RATE / THREADS requests a second;
-- wrk calls delay() before every request and waits that many milliseconds.
if RATE > 0 then
   local interval = THREADS / RATE
   local next_t
   function delay()
      local t = now()
      if next_t == nil or next_t < t - MAX_LAG then
         if next_t ~= nil then lagged = lagged + 1 end
         next_t = t
      end
      local wait = next_t - t
      next_t = next_t + interval
      return math.floor(wait * 1000 + 0.5)
   end
end

local COUNTERS = { "ops_open", "ops_get", "ops_store", "ops_list", "ops_close", "ops_delete",
   "ops_check", "ops_expire", "non_200", "bad_body", "session_closed", "late_expiry",
   "expired_seen", "expire_call_closed", "lagged" }

function done(summary, latency, requests)
   local sums, bad = {}, ""
   for _, name in ipairs(COUNTERS) do sums[name] = 0 end
   for _, thread in ipairs(threads) do
      for _, name in ipairs(COUNTERS) do sums[name] = sums[name] + (tonumber(thread:get(name)) or 0) end
      local b = thread:get("first_bad")
      if bad == "" and b and b ~= "" then bad = b end
   end
   local e = summary.errors
   local line = string.format("SOAK requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d"
      .. " p50_us=%d p99_us=%d max_us=%d", summary.requests, summary.duration,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99), latency.max)
   for _, name in ipairs(COUNTERS) do line = line .. " " .. name .. "=" .. sums[name] end
   io.write(line .. "\n")
   if bad ~= "" then io.write("SOAKBAD " .. bad:gsub("\n", " ") .. "\n") end
end
