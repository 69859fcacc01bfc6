#!/usr/bin/env bash
# The fleet features' measures, in one run on one database: heartbeats/s of a baseline binary and
# of this tree's, alternated (A B A B) so both see the same machine load, then the device
# list with label filters (first page and an after= page) under no other load.
#
#   bench/fleet.sh BASELINE_BIN [DEVICES] [SECONDS]
#
# BASELINE_BIN: a release `devreg` built from the commit before (same schema version), or
# `none` for the label lists alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$1 DEVICES=${2:-100000} DURATION=${3:-5}
PORT=${DEVREG_BENCH_PORT:-18191}
URL="http://127.0.0.1:$PORT"
BIN=target/release/devreg
WORK=$(mktemp -d)
SERVER_PID=
cleanup() { [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
DB="$WORK/bench.db"
SECRET=$("$BIN" org create org_bench --create --db "$DB" | awk '/secret key:/ {print $3}')
t0=$(date +%s)
"$BIN" seed --devices "$DEVICES" --org org_bench --db "$DB" --labels \
    --keys-out "$WORK/keys.csv" --keys-limit 100000 2>/dev/null
echo "seeded $DEVICES labelled devices in $(( $(date +%s) - t0 )) s" >&2

start() {
    RUST_LOG=warn "$1" serve --db "$DB" --bind "127.0.0.1:$PORT" \
        --rate-limit-device 0 --rate-limit-publishable 0 --rate-limit-secret 0 \
        --rate-limit-anonymous 0 >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
}
stop() { kill "$SERVER_PID" || cat "$WORK/server.err" >&2; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }
rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$1"; }
field() { grep -o "$2=[0-9.]*" "$1" | head -1 | cut -d= -f2; }

# Warm-up with this tree's binary: every seeded device's first heartbeat is a real
# offline -> online transition (an event); after it both binaries heartbeat online
# devices, the steady state a fleet is in.
start "$BIN"
wrk -t2 -c64 -d${WARMUP:-$(( DEVICES / 2000 + 5 ))}s -s bench/heartbeat.lua "$URL" -- "$WORK/keys.csv" >/dev/null 2>&1
stop

rounds="1 2"; [[ $BASE == none ]] && rounds=
for round in $rounds; do
    for which in base new; do
        bin=$BIN; [[ $which == base ]] && bin=$BASE
        start "$bin"
        wrk --latency -t2 -c64 -d${DURATION}s -s bench/heartbeat.lua "$URL" -- "$WORK/keys.csv" \
            >"$WORK/hb-$which-$round.txt" 2>&1
        stop
        printf 'heartbeats %s run %s: %s req/s, p99 %s ms\n' "$which" "$round" \
            "$(rps "$WORK/hb-$which-$round.txt")" "$(field "$WORK/hb-$which-$round.txt" p99_ms)"
    done
done

start "$BIN"
list() { # NAME PATH
    wrk --latency -t1 -c4 -d${DURATION}s -s bench/get.lua "$URL" -- "$2" "$SECRET" >"$WORK/$1.txt" 2>&1
    printf '%s: %s req/s, p50 %s ms, p99 %s ms\n' "$1" "$(rps "$WORK/$1.txt")" \
        "$(field "$WORK/$1.txt" p50_ms)" "$(field "$WORK/$1.txt" p99_ms)"
}
Q="/api/v1/devices?org_id=org_bench"
TOTAL=$(curl -sf -H "Authorization: Bearer $SECRET" "$URL$Q&label=ring:r3&limit=1" | grep -o '"total":[0-9]*')
echo "label=ring:r3 matches ${TOTAL#*:} devices" >&2
AFTER=$(curl -sf -H "Authorization: Bearer $SECRET" \
    "$URL$Q&label=ring:r3&limit=1&offset=$(( DEVICES / 20 ))" | grep -o '"id":"[^"]*"' | head -1 | cut -d'"' -f4)
list "label ring:r3, first page" "$Q&limit=100&label=ring:r3"
list "label ring:r3, after= page at half" "$Q&limit=100&label=ring:r3&after=$AFTER"
list "label canary (present), first page" "$Q&limit=100&label=canary"
list "labels ring:r3 + site:s13 + platform=ios" "$Q&label=ring:r3&label=site:s13&platform=ios"
stop
