-- wrk script: each request a telemetry batch of 100 events (the Python device agent's
-- shape, telemetry_uploader.py), from a different device with its own key; every batch
-- and event id is new, so everything is stored.
-- Usage: wrk ... -s bench/telemetry.lua URL -- KEYS_FILE [EVENTS]
--   (KEYS_FILE: "id,key" lines; EVENTS a batch, default 100)
local devices = {}
local i = 0
local n = 0
local thread_id = 0
local counter = 0
local per_batch = 100

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  for line in io.lines(args[1]) do
    local id, key = line:match("^([^,]+),([^,]+)$")
    if id then devices[#devices + 1] = { id, "Bearer " .. key } end
  end
  i = math.random(#devices)
  if args[2] then per_batch = tonumber(args[2]) end
end

local event = '{"event_id":"%s","device_id":"%s","boot_id":"b%d","session_id":null,'
  .. '"sequence_no":%d,"event_type":"%s","telemetry_class":"IMPORTANT",'
  .. '"occurred_at":"2026-02-23T16:30:00.123456+00:00","model_id":"kbd-next-word",'
  .. '"model_version":"1.0.0","payload_json":"{\\"latency_ms\\": 12.5, \\"tokens\\": 42}"}'
local types = { "serving.request_completed", "inference.completed", "artifact.download_progress" }

function request()
  i = i % #devices + 1
  n = n + 1
  local d = devices[i]
  local events = {}
  for k = 1, per_batch do
    events[k] = string.format(event, thread_id .. "-" .. n .. "-" .. k, d[1], thread_id,
      n * per_batch + k, types[k % 3 + 1])
  end
  local body = string.format(
    '{"device_id":"%s","boot_id":"b%d","batch_id":"%d-%d","first_seq":%d,"last_seq":%d,"events":[%s]}',
    d[1], thread_id, thread_id, n, n * per_batch + 1, n * per_batch + per_batch,
    table.concat(events, ","))
  return wrk.format("POST", "/api/v1/telemetry/batches",
    { ["Authorization"] = d[2], ["Content-Type"] = "application/json" }, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT p50_ms=%.3f p99_ms=%.3f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
