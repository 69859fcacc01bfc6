#!/usr/bin/env bash
# The fleet workload: what a fleet running the official SDKs sends, open loop
# at the fleet's natural rate, per endpoint, beside the same run's HTTP ceiling. See
# docs/performance.md ("Fleet workload").
#
#   bench/workload.sh [FLEET_SIZE] [SECONDS]    default 1000000 devices, 600 s
#
# Per device per 300 s (the SDKs' default interval): one heartbeat, one sync, an
# observed-state report from 10% of devices (those whose state changed), five telemetry
# batches of 20 events (examples/fleetload.rs; FLEETLOAD_ARGS passes it more options,
# e.g. "--interval 60 --connections 256"). Seeds a file database with FLEET_SIZE devices
# (100,000 of them, spread over the fleet, get keys and send the traffic), deploys one
# model to all (DEVREG_BIN: another devreg binary to serve), measures the ceiling, runs the workload while sampling the WAL, the
# database file and the server's RSS every 10 s, and prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."
FLEET=${1:-1000000} DURATION=${2:-600}
PORT=${DEVREG_BENCH_PORT:-18201}
URL="http://127.0.0.1:$PORT"
for tool in wrk sqlite3; do
    if ! command -v $tool >/dev/null; then
        echo "installing $tool (Debian package)" >&2
        sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
        $sudo apt-get update -qq && $sudo apt-get install -y -qq $tool >/dev/null
    fi
done
cargo build --release --quiet --bin devreg --example fleetload
BIN=${DEVREG_BIN:-target/release/devreg}
LOAD=target/release/examples/fleetload
WORK=$(mktemp -d)
SERVER_PID= SAMPLER_PID=
cleanup() {
    [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
    if [[ -n "${DEVREG_BENCH_KEEP:-}" ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
DB="$WORK/bench.db"

SECRET=$("$BIN" org create org_bench --create --db "$DB" | awk '/secret key:/ {print $3}')
t0=$(date +%s)
"$BIN" seed --devices "$FLEET" --org org_bench --db "$DB" \
    --keys-out "$WORK/keys.csv" --keys-limit 100000 2>/dev/null
echo "seeded $FLEET devices in $(( $(date +%s) - t0 )) s" >&2

RUST_LOG=warn "$BIN" serve --db "$DB" --bind "127.0.0.1:$PORT" \
    --rate-limit-device 0 --rate-limit-publishable 0 --rate-limit-secret 0 \
    --rate-limit-anonymous 0 --max-devices-per-org 0 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

# shellcheck source=bench/deploy-model.sh
source bench/deploy-model.sh
deploy_bench_model

echo "HTTP ceiling: GET /healthz" >&2
wrk --latency -t2 -c64 -d10s -s bench/get.lua "$URL" -- /healthz none >"$WORK/ceiling.txt" 2>&1
CEIL=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/ceiling.txt")

count() { sqlite3 -readonly "file:$DB?mode=ro" "$1" 2>/dev/null || echo "?"; }
sample() {
    while sleep 10; do
        printf '%s %s %s %s\n' "$(date +%s)" \
            "$(stat -c %s "$DB-wal" 2>/dev/null || echo 0)" "$(stat -c %s "$DB")" \
            "$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")"
    done >"$WORK/samples.txt"
}
sample & SAMPLER_PID=$!
TELEMETRY_BEFORE=$(count "SELECT coalesce(sum(stored), 0) FROM telemetry_orgs")
EVENTS_BEFORE=$(count "SELECT count(*) FROM events")
echo "fleet workload for $DURATION s" >&2
# shellcheck disable=SC2086
"$LOAD" "$URL" "$WORK/keys.csv" "$FLEET" "$DURATION" ${FLEETLOAD_ARGS:-} >"$WORK/load.txt"
kill "$SAMPLER_PID"; SAMPLER_PID=
TELEMETRY_AFTER=$(count "SELECT coalesce(sum(stored), 0) FROM telemetry_orgs")
EVENTS_AFTER=$(count "SELECT count(*) FROM events")
PEAK_RSS_MB=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")

field() { grep "endpoint=$1 " "$WORK/load.txt" | grep -o "$2=[0-9.]*" | cut -d= -f2; }
mb() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1048576}'; }
printf '\ndevreg fleet workload: %s devices, %s s, %s, %s cores, %s\n' \
    "$FLEET" "$DURATION" "$(date -u +%F)" "$(nproc)" "$(uname -m)"
printf '| measure | rate asked | sent | non-2xx | late | p50 ms | p99 ms | p99.9 ms | max ms |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
printf '| HTTP ceiling (GET /healthz, closed loop) | %s req/s | | | | %s | %s | | |\n' "$CEIL" \
    "$(grep -o 'p50_ms=[0-9.]*' "$WORK/ceiling.txt" | cut -d= -f2)" \
    "$(grep -o 'p99_ms=[0-9.]*' "$WORK/ceiling.txt" | cut -d= -f2)"
for e in heartbeat sync observed-state telemetry all; do
    printf '| %s | %s/s | %s | %s | %s | %s | %s | %s | %s |\n' "$e" "$(field $e rate)" \
        "$(field $e sent)" "$(field $e non2xx)" "$(field $e late)" "$(field $e p50_ms)" \
        "$(field $e p99_ms)" "$(field $e p999_ms)" "$(field $e max_ms)"
done
read -r _ wal0 db0 rss0 < <(head -1 "$WORK/samples.txt")
WAL_MAX=$(awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$WORK/samples.txt")
read -r _ wal1 db1 rss1 < <(tail -1 "$WORK/samples.txt")
printf '\n| bound | first sample | last sample | max |\n|---|---|---|---|\n'
printf '| WAL | %s MB | %s MB | %s MB |\n' "$(mb "$wal0")" "$(mb "$wal1")" "$(mb "$WAL_MAX")"
printf '| database file | %s MB | %s MB | |\n' "$(mb "$db0")" "$(mb "$db1")"
printf '| server RSS | %s MB | %s MB | %s MB (VmHWM) |\n' "$(( rss0 / 1024 ))" "$(( rss1 / 1024 ))" "$PEAK_RSS_MB"
printf '| telemetry events stored | %s (before) | %s (after) | bound: --telemetry-per-org |\n' \
    "$TELEMETRY_BEFORE" "$TELEMETRY_AFTER"
printf '| event log rows | %s (before) | %s (after) | bound: --event-retention |\n' \
    "$EVENTS_BEFORE" "$EVENTS_AFTER"
