-- wrk script: registrations of new, unique devices with the secret key.
-- Usage: wrk ... -s bench/register.lua URL -- SECRET_KEY
local auth
local counter = 0


local threads = 0

-- Each thread's identifiers carry the time and the thread's number, so no two runs or
-- threads register the same identifier (which would be a 409).
function setup(thread)
  threads = threads + 1
  thread:set("tag", os.time() .. "-" .. threads)
end

function init(args)
  auth = "Bearer " .. args[1]
end

function request()
  counter = counter + 1
  local body = '{"device_id":"bench-reg-' .. tag .. '-' .. counter .. '","platform":"ios","capabilities":{"cpu":"4-core"}}'
  return wrk.format("POST", "/api/v1/devices/register",
    { ["Authorization"] = auth, ["Content-Type"] = "application/json" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
