#!/usr/bin/env bash
# The server's CPU per telemetry batch against its CPU per heartbeat (issue 28's target:
# a 20-event batch at most 3 x a heartbeat), for two or more devreg binaries alternated
# within each round on a fresh copy of one seeded database. See docs/performance.md
# ("Telemetry by the batch").
#
#   bench/telemetry-cpu.sh DEVICES SECONDS ROUNDS NAME=BIN [NAME=BIN ...]
#
# Each slot starts the binary on the copy, then runs two phases, each alone and closed
# loop (wrk, 1 thread, CONNS connections, default 32): heartbeats (bench/heartbeat.lua,
# half of the devices), then batches of EVENTS events (default 20; bench/telemetry.lua,
# the other half, every batch and event id new). For each phase, the server's user +
# system CPU (/proc/PID/stat) over the phase divided by the requests answered is its CPU
# per request in microseconds (the load generator's is not counted). The database is
# seeded with the first binary; every binary must read its schema version (a newer one
# migrates it when it opens, before anything is measured).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 4 ]]; then
    sed -n '2,16p' "$0" >&2
    exit 2
fi
DEVICES=$1 DURATION=$2 ROUNDS=$3
shift 3
EVENTS=${EVENTS:-20}
CONNS=${CONNS:-32}
PORT=${DEVREG_BENCH_PORT:-18213}
source bench/alternate.sh "$@"

FIRST=${1#*=}
TEMPLATE="$WORK/template.db"
"$FIRST" org create org_bench --create --db "$TEMPLATE" >/dev/null
echo "seeding $DEVICES devices" >&2
"$FIRST" seed --devices "$DEVICES" --org org_bench --db "$TEMPLATE" \
    --keys-out "$WORK/keys.csv" 2>/dev/null
half=$(( DEVICES / 2 ))
head -n "$half" "$WORK/keys.csv" >"$WORK/heartbeat-keys.csv"
tail -n +"$(( half + 1 ))" "$WORK/keys.csv" >"$WORK/telemetry-keys.csv"

# Runs wrk with the arguments given; prints the server's CPU per request in µs.
phase() { # OUT wrk-args...
    local out=$1 before
    shift
    before=$(cpu_ticks)
    wrk --latency -t1 -c"$CONNS" -d"${DURATION}s" "$@" >"$out" 2>&1
    awk -v t="$(($(cpu_ticks) - before))" -v hz="$TICKS" -v n="$(requests "$out")" \
        'BEGIN {printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0)}'
}

echo "| round | binary | heartbeats | batches of $EVENTS | batch / heartbeat CPU |"
echo "|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
    for spec in "$@"; do
        name=${spec%%=*} bin=${spec#*=}
        start_on_copy "$bin"
        hb=$(phase "$WORK/hb.txt" -s bench/heartbeat.lua "$URL" -- "$WORK/heartbeat-keys.csv")
        tb=$(phase "$WORK/tb.txt" -s bench/telemetry.lua "$URL" -- "$WORK/telemetry-keys.csv" "$EVENTS")
        stop
        ratio=$(awk -v a="$tb" -v b="$hb" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
        echo "| $round | $name | $(rps "$WORK/hb.txt")/s, p99 $(grep -o 'p99_ms=[0-9.]*' "$WORK/hb.txt" | cut -d= -f2) ms, \
${hb} µs CPU, non-2xx $(non2xx "$WORK/hb.txt") | $(rps "$WORK/tb.txt")/s, p99 $(grep -o 'p99_ms=[0-9.]*' "$WORK/tb.txt" | cut -d= -f2) ms, \
${tb} µs CPU, non-2xx $(non2xx "$WORK/tb.txt") | $ratio |"
    done
done
