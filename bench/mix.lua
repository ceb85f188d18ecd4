-- wrk script for the benchmark: a mix of GET /v1/cities/biggest and POST /v1/cities.
--   wrk ... -s bench/mix.lua URL -- KEYS_FILE WRITE_FRACTION NAME_PREFIX
-- KEYS_FILE: one API key a line; every request picks one at random, so the load rotates over
-- every tenant. WRITE_FRACTION: 0 (reads only) … 1 (writes only). NAME_PREFIX: unique to this
-- run, so with a per-thread id and counter every posted city name is new (no 409).
-- No response() callback (it would make wrk hand every response to Lua): wrk itself counts
-- statuses above 399 in summary.errors.status, which done() reports as non-2xx.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

local reads, keys = {}, {}
local write_fraction, prefix, counter = 0, "w", 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then keys[#keys + 1] = line end
  end
  write_fraction = tonumber(args[2]) or 0
  prefix = args[3] or "w"
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  for i, key in ipairs(keys) do
    reads[i] = wrk.format("GET", "/v1/cities/biggest?limit=20",
                          { ["Authorization"] = "Bearer " .. key })
  end
end

function request()
  local i = math.random(#keys)
  if write_fraction > 0 and (write_fraction >= 1 or math.random() < write_fraction) then
    counter = counter + 1
    local body = string.format('{"name":"%s-%d-%d","population":%d}', prefix, tid or 0, counter,
                               math.random(0, 2000000000))
    return wrk.format("POST", "/v1/cities", { ["Authorization"] = "Bearer " .. keys[i],
                                              ["Content-Type"] = "application/json" }, body)
  end
  return reads[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
