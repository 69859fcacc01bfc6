-- wrk script: GET one path with the secret key; prints latency percentiles.
-- Usage: wrk ... -s bench/get.lua URL -- PATH SECRET_KEY
local path, auth

function init(args)
  path = args[1]
  auth = "Bearer " .. args[2]
end

function request()
  return wrk.format("GET", path, { ["Authorization"] = auth })
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
