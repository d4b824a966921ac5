-- wrk script for scripts/lookup-bench.sh: POSTs `route(tenantId:)` or `routes(tenantIds:)`
-- queries for random tenants of the benchmark catalog, checks every answer, and prints one
-- machine-readable `RESULT` line at the end.
--
-- Environment (read in every wrk thread):
--   TOKEN    bearer token, scope read (required but for the `pg` modes)
--   TENANTS  size of the catalog; ids are drawn uniformly from 1..TENANTS (default 1000000)
--   MODE     `route` (one id a request, in a variable), `inline` (one id a request,
--            written into the query text) or `routes` (BATCH ids a request); `pg` and
--            `pg-inline`: PostGraphile's `tenantById` the same two ways, sent without a
--            token (scripts/compare-postgraphile.sh)                           (default route)
--   BATCH    ids per `routes` request                                        (default 50)
--   RATE     if > 0: pace the requests to RATE a second in total (an open-loop schedule per
--            wrk thread, through wrk's delay(); wrk itself has no rate limit)   (default 0)
--   THREADS  wrk's -t, needed to split RATE between the threads                 (default 2)
--   LABEL    name printed in the RESULT line                                     (default MODE)
--
-- Tenant n (1-based) has the id `hhhhhhhh-0000-4000-8000-nnnnnnnnnnnn`, where n is in hex and
-- hhhhhhhh = (n * 2654435761) mod 2^32 in hex, so ids are spread over the primary-key index.
-- The same formula is in lookup-bench.sh (SQL load and warm-up); keep them in step.

local mode    = os.getenv("MODE") or "route"
local postgraphile = mode == "pg" or mode == "pg-inline"
local token   = os.getenv("TOKEN") or (postgraphile and "") or error("TOKEN is not set")
local tenants = tonumber(os.getenv("TENANTS") or "1000000")
local batch   = tonumber(os.getenv("BATCH") or "50")
local rate    = tonumber(os.getenv("RATE") or "0")
local nthreads = tonumber(os.getenv("THREADS") or "2")
local label   = os.getenv("LABEL") or mode

wrk.method = "POST"
wrk.path = "/graphql"
wrk.headers["Content-Type"] = "application/json"
if not postgraphile then
  -- PostGraphile without a JWT secret refuses any bearer token.
  wrk.headers["Authorization"] = "Bearer " .. token
end

local function tenant_id(n)
  -- (n * 0x9E3779B1) mod 2^32, exact in doubles: split the multiplier into 16-bit halves.
  local h = ((n * 0x9E37) % 0x10000 * 0x10000 + n * 0x79B1) % 0x100000000
  return string.format("%08x-0000-4000-8000-%012x", h, n)
end

local function random_id()
  return tenant_id(math.random(1, tenants))
end

local route_query = '{"query":"query($id: ID!){ route(tenantId: $id){ region shard endpoint serving } }","variables":{"id":"'
local inline_query = '{"query":"{ route(tenantId: \\"'
local inline_tail = '\\"){ region shard endpoint serving } }"}'
-- PostGraphile's lookup by primary key, asking the nearest it has to `route`'s fields.
local pg_query = '{"query":"query($id: UUID!){ tenantById(id: $id){ region shardId state } }","variables":{"id":"'
local pg_inline_query = '{"query":"{ tenantById(id: \\"'
local pg_inline_tail = '\\"){ region shardId state } }"}'
local routes_query = '{"query":"query($ids: [ID!]!){ routes(tenantIds: $ids){ region shard endpoint serving } }","variables":{"ids":["'

-- ---- main state: keep the threads to add up their counters in done() ----
local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

-- ---- thread state ----
non200 = 0        -- HTTP status other than 200
gql_errors = 0    -- 200 with an `errors` list
nulls = 0         -- 200 with a null route (every benchmark tenant has a route)
checked = 0       -- answers looked at
samples = ""      -- the first few bad answers, for the log

function init(args)
  math.randomseed(1000003 * (tid or 1) + os.time() % 1000003)
  for _ = 1, 10 do math.random() end
end

function request()
  local body
  if mode == "routes" then
    local ids = {}
    for k = 1, batch do ids[k] = random_id() end
    body = routes_query .. table.concat(ids, '","') .. '"]}}'
  elseif mode == "inline" then
    body = inline_query .. random_id() .. inline_tail
  elseif mode == "pg" then
    body = pg_query .. random_id() .. '"}}'
  elseif mode == "pg-inline" then
    body = pg_inline_query .. random_id() .. pg_inline_tail
  else
    body = route_query .. random_id() .. '"}}'
  end
  return wrk.format(nil, nil, nil, body)
end

local function remember(status, body)
  if #samples < 600 then
    samples = samples .. status .. " " .. string.sub(body or "", 1, 200) .. "\n"
  end
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 then
    non200 = non200 + 1
    remember(status, body)
  elseif string.find(body, '"errors"', 1, true) then
    gql_errors = gql_errors + 1
    remember(status, body)
  elseif string.find(body, "null", 1, true) then
    nulls = nulls + 1
    remember(status, body)
  end
end

if rate > 0 then
  -- Open-loop pacing: the thread's requests are due every `interval` ms whatever the answers
  -- take; a connection that becomes free waits until the next due time. wrk measures latency
  -- from when the request is written, so time a request waited behind a late one is not
  -- counted (wrk2 would; it is not packaged in Debian).
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } tc_timespec;
    int clock_gettime(int clk_id, tc_timespec *tp);
  ]]
  local ts = ffi.new("tc_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 * nthreads / rate
  local due = nil
  function delay()
    local now = now_ms()
    if due == nil then due = now end
    local at = due
    due = due + interval
    local wait = at - now
    if wait <= 0 then return 0 end
    return math.floor(wait + 0.5)
  end
end

function done(summary, latency, requests)
  local bad, bad_answers, nul, seen = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non200")
    bad_answers = bad_answers + t:get("gql_errors")
    nul = nul + t:get("nulls")
    seen = seen + t:get("checked")
    local s = t:get("samples")
    if s ~= nil and s ~= "" then io.stderr:write("bad answers (status, body):\n" .. s) end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  local rps = summary.requests / secs
  local per = (mode == "routes") and batch or 1
  io.write(string.format(
    "RESULT label=%s mode=%s requests=%d seconds=%.2f rps=%.1f tenants_per_s=%.1f " ..
    "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non200=%d graphql_errors=%d nulls=%d " ..
    "checked=%d socket_errors=%d target_rate=%d\n",
    label, mode, summary.requests, secs, rps, rps * per,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    bad, bad_answers, nul, seen, e.connect + e.read + e.write + e.timeout, rate))
end
