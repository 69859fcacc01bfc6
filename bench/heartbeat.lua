-- wrk script: each request a heartbeat of a different device, with that device's own key.
-- Usage: wrk ... -s bench/heartbeat.lua URL -- KEYS_FILE   (KEYS_FILE: "id,key" lines)
local devices = {}
local i = 0
local body = '{"status":"active","metrics":{"cpu_usage_percent":42.5,"battery_level":85}}'

function init(args)
  for line in io.lines(args[1]) do
    local id, key = line:match("^([^,]+),([^,]+)$")
    if id then devices[#devices + 1] = { id, "Bearer " .. key } end
  end
  -- Threads start at different places in the list so they do not beat the same devices.
  i = math.random(#devices)
end

function request()
  i = i % #devices + 1
  local d = devices[i]
  return wrk.format("PUT", "/api/v1/devices/" .. d[1] .. "/heartbeat",
    { ["Authorization"] = d[2], ["Content-Type"] = "application/json" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
