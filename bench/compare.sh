#!/usr/bin/env bash
# Two or more devreg binaries against each other, alternated within each round (A B A B)
# on a fresh copy of one seeded database, so every binary sees the same machine load and
# the same file. See docs/performance.md: on a shared machine only figures from one such
# run are comparable.
#
#   bench/compare.sh MEASURE DEVICES SECONDS ROUNDS NAME=BIN [NAME=BIN ...]
#
# MEASURE:
#   workload       the fleet workload at its natural rate (examples/fleetload.rs; more
#                  options in FLEETLOAD_ARGS), the line for all endpoints
#   heartbeats     the HTTP ceiling, then heartbeats closed loop (wrk, 64 connections)
#   registrations  registrations closed loop (wrk, CONNS connections, default 64)
#
# The database (DEVICES devices, 100,000 of them with keys, one model deployed to all)
# is seeded once with the first binary. Every binary must read that schema version.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 5 ]]; then
    sed -n '2,16p' "$0" >&2
    exit 2
fi
MEASURE=$1 DEVICES=$2 DURATION=$3 ROUNDS=$4
shift 4
case $MEASURE in workload | heartbeats | registrations) ;; *)
    echo "unknown measure $MEASURE: workload, heartbeats or registrations" >&2
    exit 2
    ;;
esac
PORT=${DEVREG_BENCH_PORT:-18211}
source bench/alternate.sh "$@"
cargo build --release --quiet --example fleetload
LOAD=target/release/examples/fleetload

FIRST=${1#*=}
TEMPLATE="$WORK/template.db"
SECRET=$("$FIRST" org create org_bench --create --db "$TEMPLATE" | awk '/secret key:/ {print $3}')
echo "seeding $DEVICES devices" >&2
"$FIRST" seed --devices "$DEVICES" --org org_bench --db "$TEMPLATE" \
    --keys-out "$WORK/keys.csv" --keys-limit 100000 2>/dev/null
start "$FIRST" "$TEMPLATE"
# shellcheck source=bench/deploy-model.sh
source bench/deploy-model.sh
deploy_bench_model
stop # a clean stop checkpoints the WAL: the file alone is the database to copy

echo "| round | binary | $MEASURE |"
echo "|---|---|---|"
for round in $(seq "$ROUNDS"); do
    for spec in "$@"; do
        name=${spec%%=*} bin=${spec#*=}
        start_on_copy "$bin"
        case $MEASURE in
        workload)
            # shellcheck disable=SC2086
            "$LOAD" "$URL" "$WORK/keys.csv" "$DEVICES" "$DURATION" ${FLEETLOAD_ARGS:-} >"$WORK/out.txt"
            result=$(grep 'endpoint=all ' "$WORK/out.txt" | cut -d' ' -f3-)
            ;;
        heartbeats)
            wrk -t2 -c64 -d10s -s bench/get.lua "$URL" -- /healthz none >"$WORK/ceiling.txt" 2>&1
            before=$(cpu_ticks)
            wrk --latency -t2 -c64 -d"${DURATION}s" -s bench/heartbeat.lua "$URL" -- \
                "$WORK/keys.csv" >"$WORK/out.txt" 2>&1
            # Server CPU per heartbeat: steadier than the rate when the machine's speed
            # drifts between slots (a slower slot lowers both ceiling and rate, not this).
            cpu_us=$(awk -v t="$(($(cpu_ticks) - before))" -v hz="$TICKS" -v n="$(requests "$WORK/out.txt")" \
                'BEGIN {printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0)}')
            result="ceiling $(rps "$WORK/ceiling.txt") req/s, heartbeats $(rps "$WORK/out.txt") req/s, \
$(grep -o 'p99_ms=[0-9.]*' "$WORK/out.txt"), server_cpu_us=$cpu_us, non-2xx $(non2xx "$WORK/out.txt")"
            ;;
        registrations)
            wrk --latency -t2 -c"${CONNS:-64}" -d"${DURATION}s" -s bench/register.lua "$URL" -- \
                "$SECRET" >"$WORK/out.txt" 2>&1
            result="$(rps "$WORK/out.txt") req/s, $(grep -o 'p99_ms=[0-9.]*' "$WORK/out.txt"), \
non-2xx $(non2xx "$WORK/out.txt")"
            ;;
        esac
        stop
        echo "| $round | $name | $result |"
    done
done
