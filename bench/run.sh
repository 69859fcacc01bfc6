#!/usr/bin/env bash
# devreg's benchmark: one command, one table. See docs/performance.md.
#
#   bench/run.sh           quick mode: 100,000 devices, 5 s runs (for development)
#   bench/run.sh --full    full mode: 1,000,000 devices, 20 s runs (for the table in docs/performance.md)
#
# Builds release, seeds a file database, starts `devreg serve` on it, drives load over
# loopback with wrk (installed from Debian if missing) and examples/loadgen.rs (open loop),
# and prints the table. Every figure comes from this one run on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=quick DEVICES=100000 DURATION=5
if [[ "${1:-}" == "--full" ]]; then MODE=full DEVICES=1000000 DURATION=20; fi
CONNS=64
PORT=${DEVREG_BENCH_PORT:-18181}
URL="http://127.0.0.1:$PORT"
DEEP_OFFSET=$(( DEVICES * 9 / 10 ))

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)" >&2
    sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --bin devreg --example loadgen
BIN=target/release/devreg
LOADGEN=target/release/examples/loadgen

WORK=$(mktemp -d)
SERVER_PID=
# DEVREG_BENCH_KEEP=1 keeps the work directory (database, wrk outputs, server log).
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
    if [[ -n "${DEVREG_BENCH_KEEP:-}" ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
DB="$WORK/bench.db"

echo "seeding $DEVICES devices ($MODE mode)" >&2
SECRET=$("$BIN" org create org_bench --create --db "$DB" | awk '/secret key:/ {print $3}')
"$BIN" seed --devices "$DEVICES" --org org_bench --db "$DB" \
    --keys-out "$WORK/keys.csv" --keys-limit 100000

# Rate limits off: this measures the server, not its quotas (bench/ratelimit.sh measures
# what the limiter costs).
RUST_LOG=warn "$BIN" serve --db "$DB" --bind "127.0.0.1:$PORT" \
    --rate-limit-device 0 --rate-limit-publishable 0 --rate-limit-secret 0 \
    --rate-limit-anonymous 0 --max-devices-per-org 0 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

# wrk_run NAME ARGS...: runs wrk, keeps its output in $WORK/NAME.txt
wrk_run() { local name=$1; shift; wrk --latency "$@" >"$WORK/$name.txt" 2>&1; }
rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/$1.txt"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ {n=$5} END {print n+0}' "$WORK/$1.txt"; }
field() { grep -o "$2=[0-9.]*" "$WORK/$1.txt" | head -1 | cut -d= -f2; }

echo "HTTP ceiling: GET /healthz" >&2
wrk_run ceiling -t2 -c$CONNS -d${DURATION}s -s bench/get.lua "$URL" -- /healthz none
echo "heartbeats, $CONNS connections, each request a different device and key" >&2
wrk_run heartbeat -t2 -c$CONNS -d${DURATION}s -s bench/heartbeat.lua "$URL" -- "$WORK/keys.csv"
HB=$(rps heartbeat)
RATE=$(( HB * 8 / 10 ))
echo "heartbeats open loop at $RATE/s (80% of $HB/s)" >&2
"$LOADGEN" "$URL" "$WORK/keys.csv" "$RATE" "$DURATION" >"$WORK/open.txt"

list_under_load() { # NAME PATH
    wrk -t1 -c32 -d$((DURATION + 2))s -s bench/heartbeat.lua "$URL" -- "$WORK/keys.csv" >"$WORK/$1-bg.txt" 2>&1 &
    local bg=$!
    sleep 1
    wrk_run "$1" -t1 -c4 -d${DURATION}s -s bench/get.lua "$URL" -- "$2" "$SECRET"
    wait $bg
}
echo "list, first page with platform and status filters and total, under heartbeat load" >&2
list_under_load list_first "/api/v1/devices?org_id=org_bench&platform=ios&status=active&limit=100"
echo "list, offset $DEEP_OFFSET, under heartbeat load" >&2
list_under_load list_deep "/api/v1/devices?org_id=org_bench&limit=100&offset=$DEEP_OFFSET"
# Keyset pagination: the same page as offset DEEP_OFFSET, named by the device before it.
AFTER=$(curl -sf -H "Authorization: Bearer $SECRET" \
    "$URL/api/v1/devices?org_id=org_bench&limit=1&offset=$(( DEEP_OFFSET - 1 ))" |
    grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
echo "list, after the device at $DEEP_OFFSET (keyset), under heartbeat load" >&2
list_under_load list_after "/api/v1/devices?org_id=org_bench&limit=100&after=$AFTER"
echo "registrations" >&2
wrk_run register -t2 -c$CONNS -d${DURATION}s -s bench/register.lua "$URL" -- "$SECRET"

PEAK_RSS_MB=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")
NON2XX=0 NON2XX_RUNS=
for run in ceiling heartbeat list_first list_first-bg list_deep list_deep-bg list_after list_after-bg register; do
    n=$(non2xx $run)
    NON2XX=$(( NON2XX + n ))
    (( n > 0 )) && NON2XX_RUNS+=" $run:$n"
done
n=$(field open non2xx)
NON2XX=$(( NON2XX + n ))
(( n > 0 )) && NON2XX_RUNS+=" open-loop:$n"
CEIL=$(rps ceiling)

printf '\ndevreg benchmark, %s mode: %s devices, %ss runs, %s connections, %s, %s cores, %s\n' \
    "$MODE" "$DEVICES" "$DURATION" "$CONNS" "$(date -u +%F)" "$(nproc)" "$(uname -m)"
printf '| measure | result |\n|---|---|\n'
printf '| HTTP ceiling (GET /healthz) | %s req/s |\n' "$CEIL"
printf '| heartbeats | %s req/s (%s%% of ceiling), p50 %s ms, p99 %s ms, p99.9 %s ms |\n' \
    "$HB" "$(( HB * 100 / CEIL ))" "$(field heartbeat p50_ms)" "$(field heartbeat p99_ms)" "$(field heartbeat p999_ms)"
printf '| heartbeats, open loop at 80%% (%s/s) | p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms |\n' \
    "$(field open rate)" "$(field open p50_ms)" "$(field open p99_ms)" "$(field open p999_ms)" "$(field open max_ms)"
printf '| list, first page, platform+status+total, under load | %s req/s, p50 %s ms, p99 %s ms |\n' \
    "$(rps list_first)" "$(field list_first p50_ms)" "$(field list_first p99_ms)"
printf '| list, offset %s, under load | %s req/s, p50 %s ms, p99 %s ms |\n' \
    "$DEEP_OFFSET" "$(rps list_deep)" "$(field list_deep p50_ms)" "$(field list_deep p99_ms)"
printf '| list, same page by keyset (after=), under load | %s req/s, p50 %s ms, p99 %s ms |\n' \
    "$(rps list_after)" "$(field list_after p50_ms)" "$(field list_after p99_ms)"
printf '| registrations | %s req/s, p99 %s ms |\n' "$(rps register)" "$(field register p99_ms)"
printf '| server peak RSS | %s MB |\n' "$PEAK_RSS_MB"
printf '| non-2xx responses, all runs | %s%s |\n' "$NON2XX" "${NON2XX_RUNS:+ (${NON2XX_RUNS# })}"
