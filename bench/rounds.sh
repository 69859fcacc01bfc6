#!/usr/bin/env bash
# Heartbeats per second with and without active training rounds, in one run.
#
# Starts the release binary on a temporary database file, registers DEVICES devices
# (platform python) and drives heartbeats over all of them with wrk, in four phases:
#   none        no round at all
#   ten-skipped ten active rounds aimed at android: every heartbeat walks all ten and
#               is offered none (the most work ten active rounds can cause)
#   none-again  those ten cancelled (ended rounds are not walked)
#   ten-offered ten active rounds for every platform: every heartbeat is offered one
# and prints heartbeats/s of each and its ratio to the mean of the two "none" phases.
#
# Usage: bench/rounds.sh            (a file database, synchronous=FULL as in production)
#        DB=memory bench/rounds.sh  (in memory: no fsync, so the query's own cost shows)
# Knobs: DEVICES (1000), DURATION (10s), CONNECTIONS (32), THREADS (2), DEVREG_BIN,
#        DEVREG_ARGS (extra `devreg serve` flags, e.g. to turn a rate limit off).
# Needs curl, jq and wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${DEVICES:-1000}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
BIN=${DEVREG_BIN:-target/release/devreg}
SECRET=edg_live_benchbenchbenchbenchbench00

for tool in curl jq wrk; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
[ -x "$BIN" ] || cargo build --release --locked

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

db="$work/bench.db"
[ "${DB:-file}" = memory ] && db=:memory:
# Request logging off (it would cost more than what is measured); the listen line kept.
# shellcheck disable=SC2086
RUST_LOG=warn,devreg::cli=info DEVREG_SECRET_KEY=$SECRET "$BIN" serve --db "$db" \
    --bind 127.0.0.1:0 ${DEVREG_ARGS:-} >"$work/server.log" 2>&1 &
server_pid=$!
base=
for _ in $(seq 100); do
    base=$(grep -o 'listening on http://[0-9.:]*' "$work/server.log" | cut -d' ' -f3 || true)
    [ -n "$base" ] && break
    sleep 0.1
done
[ -n "$base" ] || { echo "bench: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
echo "devreg at $base, database $db, $(nproc) cores"

api() { # METHOD PATH [BODY]
    curl -fsS -X "$1" "$base$2" -H "Authorization: Bearer $SECRET" ${3:+-d "$3"}
}

echo "registering $DEVICES devices..."
seq "$DEVICES" | xargs -P 8 -I{} curl -fsS -X POST "$base/api/v1/devices/register" \
    -H "Authorization: Bearer $SECRET" -d '{"device_id":"bench-{}","platform":"python"}' \
    | jq -r '"{\"" + .id + "\",\"" + .api_key + "\"},"' >"$work/devices.lua.part"
{
    echo "devices = {"
    cat "$work/devices.lua.part"
    echo "}"
    cat <<'LUA'
local n = #devices
local i = 0
setup = function(thread) thread:set("i", math.random(n)) end
request = function()
    i = i % n + 1
    local d = devices[i]
    return wrk.format("PUT", "/api/v1/devices/" .. d[1] .. "/heartbeat",
        { ["Authorization"] = "Bearer " .. d[2], ["Content-Type"] = "application/json" },
        '{"status":"active","metrics":{"battery_level":80}}')
end
LUA
} >"$work/heartbeat.lua"
registered=$(wc -l <"$work/devices.lua.part")
[ "$registered" -eq "$DEVICES" ] || { echo "bench: registered $registered of $DEVICES" >&2; exit 1; }

# Prints heartbeats/s of one wrk run; refuses to go on if any answer was not a 2xx.
measure() {
    local out
    out=$(wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" -s "$work/heartbeat.lua" "$base")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "bench: some heartbeats failed:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}

# What one device hears, to show each phase is what it says.
offered() {
    local first
    first=$(head -1 "$work/devices.lua.part" | cut -d'"' -f2,4)
    curl -fsS -X PUT "$base/api/v1/devices/${first%%\"*}/heartbeat" \
        -H "Authorization: Bearer ${first##*\"}" | jq -r '.message // "no round offered"'
}

start_rounds() { # PLATFORMS_JSON
    for _ in $(seq 10); do api POST /api/v1/training/rounds "{\"platforms\":$1}" >/dev/null; done
}

echo "warm-up..."
DURATION=3s measure >/dev/null

echo "phase none: $(offered)"
none=$(measure)
start_rounds '["android"]'
echo "phase ten-skipped: $(offered)"
skipped=$(measure)
for n in $(seq 1 10); do api POST "/api/v1/training/rounds/$n/cancel" >/dev/null; done
echo "phase none-again: $(offered)"
none_again=$(measure)
start_rounds '[]'
echo "phase ten-offered: $(offered)"
offered_rate=$(measure)

awk -v a="$none" -v b="$skipped" -v c="$none_again" -v d="$offered_rate" 'BEGIN {
    base = (a + c) / 2
    printf "\n%-12s %12s %8s\n", "phase", "heartbeats/s", "ratio"
    printf "%-12s %12.0f %8.2f\n", "none", a, a / base
    printf "%-12s %12.0f %8.2f\n", "ten-skipped", b, b / base
    printf "%-12s %12.0f %8.2f\n", "none-again", c, c / base
    printf "%-12s %12.0f %8.2f\n", "ten-offered", d, d / base
}'
