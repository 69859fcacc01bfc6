#!/usr/bin/env bash
# Heartbeat throughput with the rate limiter on (quotas too large to refuse anything, so
# every request pays for the check) versus off (every quota 0), in one run, alternating.
#
#   bench/ratelimit.sh [SECONDS_PER_RUN] [ROUNDS]
#
# Needs wrk (apt-get install wrk), curl and python3. Builds the release binary if needed.
# Talks only to 127.0.0.1; every run is bounded by SECONDS_PER_RUN.
set -euo pipefail

secs=${1:-10}
rounds=${2:-2}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet
bin=target/release/devreg
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

secret="edg_live_$(head -c 256 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 32)"
port=18471
max=4294967295

cat > "$work/heartbeat.lua" <<'LUA'
wrk.method = "PUT"
wrk.body = '{"status":"active","metrics":{"battery_pct":80,"network_type":"wifi"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("DEVICE_KEY")
LUA

# run LABEL QUOTA: a fresh database and server, one device, SECONDS of heartbeats.
run() {
    local label=$1 quota=$2
    rm -f "$work"/db*
    "$bin" serve --bind "127.0.0.1:$port" --db "$work/db" --secret-key "$secret" --workers 1 \
        --rate-limit-device "$quota" --rate-limit-publishable "$quota" \
        --rate-limit-secret "$quota" --rate-limit-anonymous "$quota" \
        >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    local reply key id
    reply=$(curl -fs -X POST "http://127.0.0.1:$port/api/v1/devices/register" \
        -H "Authorization: Bearer $secret" -d '{"device_id":"bench-1"}')
    key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])' <<<"$reply")
    id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$reply")
    local out
    out=$(DEVICE_KEY=$key wrk -t1 -c32 -d"${secs}s" -s "$work/heartbeat.lua" \
        "http://127.0.0.1:$port/api/v1/devices/$id/heartbeat")
    local rps
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "$label: some responses were not 2xx:" >&2
        grep "Non-2xx" <<<"$out" >&2
    fi
    printf '%-14s %10s req/s   %s\n' "$label" "$rps" "$(awk '/Latency/ {print "latency avg " $2 ", stdev " $3}' <<<"$out")"
    echo "$rps" >>"$work/$label"
    kill "$server"; wait "$server" 2>/dev/null || true; server=
}

echo "heartbeats, 1 server worker, wrk -t1 -c32, ${secs}s per run, $(nproc) cores"
for _ in $(seq "$rounds"); do
    run limiter-on $max
    run limiter-off 0
done
# Medians: other work on the machine makes single runs noisy.
median() { sort -g "$1" | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
on=$(median "$work/limiter-on")
off=$(median "$work/limiter-off")
awk -v on="$on" -v off="$off" -v n="$rounds" \
    'BEGIN {printf "median of %d: on %.0f req/s, off %.0f req/s, on/off = %.3f\n", n, on, off, on/off}'
