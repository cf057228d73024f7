-- The load of one bench phase, for wrk (Debian's wrk, a C load generator in its own process).
-- BENCH_PATHS: a file of request paths, one a line, taken in turn from a per-thread offset;
-- BENCH_BODIES (optional): a file of JSON bodies, one a line: every request is then a POST of
-- the next body to the next path. BENCH_TOKEN: the bearer token.
local paths, bodies = {}, {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
local bodies_file = os.getenv("BENCH_BODIES")
if bodies_file and bodies_file ~= "" then
  for line in io.lines(bodies_file) do bodies[#bodies + 1] = line end
end
local counter = 0
local statuses = {}

wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Accept"] = "application/fhir+json"

function setup(thread)
  thread:set("offset", math.random(1, 100000))
end

function request()
  counter = counter + 1
  local i = (counter + (offset or 0)) % #paths + 1
  if #bodies > 0 then
    -- wrk.format takes these headers instead of wrk.headers: carry the token over.
    local headers = {["Content-Type"] = "application/fhir+json"}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    return wrk.format("POST", paths[i], headers, bodies[(counter + (offset or 0)) % #bodies + 1])
  end
  return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"status_errors":%d,' ..
    '"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
