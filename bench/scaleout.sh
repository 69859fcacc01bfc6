#!/usr/bin/env bash
# What several instances on PostgreSQL add, in one run on one machine: heartbeats/s on SQLite, on one devreg
# instance against PostgreSQL, and on two instances against one PostgreSQL.
#
#   bench/scaleout.sh [DEVICES] [SECONDS]     default 100000 devices, 10 s per measure
#   BIN=/path/to/devreg bench/scaleout.sh     measures that binary instead of building one
#
# Seeds a SQLite file, copies it into a throwaway PostgreSQL cluster with `devreg migrate`
# (.ci/pg with PG_DURABLE=1: fsync and synchronous_commit on, as SQLite's
# synchronous=FULL), warms each backend up (a device's first heartbeat is an event), then
# drives heartbeats with wrk: 64 connections to the one instance, 32 to each of two; then
# registrations of new devices (bench/register.lua, 64 connections) on SQLite and on one
# PostgreSQL instance.
# The database, the instances and wrk share this machine's cores; see docs/scaling.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${1:-100000} DURATION=${2:-10} WARMUP=${WARMUP:-20}
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bin devreg
    BIN=target/release/devreg
fi
WORK=$(mktemp -d)
chmod 755 "$WORK" # the cluster's owner (devreg-pg when run as root) must reach $WORK/pg
PIDS=()
stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
}
cleanup() { stop_all; bash .ci/pg stop "$WORK/pg" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

SECRET=$("$BIN" org create org_bench --create --db "$WORK/bench.db" | awk '/secret key:/ {print $3}')
"$BIN" seed --devices "$DEVICES" --org org_bench --db "$WORK/bench.db" \
    --keys-out "$WORK/keys.csv" --keys-limit 100000 2>/dev/null
PG=$(PG_DURABLE=1 bash .ci/pg start "$WORK/pg")
echo "copying $DEVICES devices into PostgreSQL" >&2
"$BIN" migrate --from "$WORK/bench.db" --to "$PG" >/dev/null

start() { # PORT DB
    RUST_LOG=warn "$BIN" serve --db "$2" --bind "127.0.0.1:$1" \
        --rate-limit-device 0 --rate-limit-publishable 0 --rate-limit-secret 0 \
        --rate-limit-anonymous 0 --max-devices-per-org 0 \
        >"$WORK/server-$1.out" 2>"$WORK/server-$1.err" &
    PIDS+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.1; done
    cat "$WORK/server-$1.err" >&2; exit 1
}
beats() { # PORT CONNECTIONS SECONDS OUT
    wrk --latency -t1 -c"$2" -d"$3"s -s bench/heartbeat.lua "http://127.0.0.1:$1" -- \
        "$WORK/keys.csv" >"$4" 2>&1
}
registrations() { # PORT SECONDS OUT
    wrk --latency -t1 -c64 -d"$2"s -s bench/register.lua "http://127.0.0.1:$1" -- \
        "$SECRET" >"$3" 2>&1
}
rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ {n=$5} END {print n+0}' "$1"; }
field() { grep -o "$2=[0-9.]*" "$1" | head -1 | cut -d= -f2; }

echo "SQLite, one instance" >&2
start 18401 "$WORK/bench.db"
beats 18401 64 "$WARMUP" /dev/null
beats 18401 64 "$DURATION" "$WORK/sqlite.txt"
registrations 18401 "$DURATION" "$WORK/sqlite-reg.txt"
stop_all
echo "PostgreSQL, one instance" >&2
start 18402 "$PG"
beats 18402 64 "$WARMUP" /dev/null
beats 18402 64 "$DURATION" "$WORK/pg1.txt"
registrations 18402 "$DURATION" "$WORK/pg1-reg.txt"
stop_all
echo "PostgreSQL, two instances" >&2
start 18403 "$PG"
start 18404 "$PG"
beats 18403 32 "$DURATION" "$WORK/pg2a.txt" &
other=$!
beats 18404 32 "$DURATION" "$WORK/pg2b.txt"
wait "$other"
stop_all

printf '\ndevreg scale-out: %s devices, %s s, %s, %s cores\n' "$DEVICES" "$DURATION" "$(date -u +%F)" "$(nproc)"
printf '| setup | heartbeats/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|\n'
printf '| SQLite, one instance | %s | %s | %s | %s |\n' "$(rps "$WORK/sqlite.txt")" \
    "$(field "$WORK/sqlite.txt" p50_ms)" "$(field "$WORK/sqlite.txt" p99_ms)" "$(non2xx "$WORK/sqlite.txt")"
printf '| PostgreSQL, one instance | %s | %s | %s | %s |\n' "$(rps "$WORK/pg1.txt")" \
    "$(field "$WORK/pg1.txt" p50_ms)" "$(field "$WORK/pg1.txt" p99_ms)" "$(non2xx "$WORK/pg1.txt")"
printf '| PostgreSQL, two instances (sum; p50/p99 of each) | %s | %s / %s | %s / %s | %s |\n' \
    "$(( $(rps "$WORK/pg2a.txt") + $(rps "$WORK/pg2b.txt") ))" \
    "$(field "$WORK/pg2a.txt" p50_ms)" "$(field "$WORK/pg2b.txt" p50_ms)" \
    "$(field "$WORK/pg2a.txt" p99_ms)" "$(field "$WORK/pg2b.txt" p99_ms)" \
    "$(( $(non2xx "$WORK/pg2a.txt") + $(non2xx "$WORK/pg2b.txt") ))"
printf '\n| registrations (64 connections) | registrations/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|\n'
for setup in "SQLite, one instance:sqlite-reg" "PostgreSQL, one instance:pg1-reg"; do
    out="$WORK/${setup#*:}.txt"
    printf '| %s | %s | %s | %s | %s |\n' "${setup%%:*}" "$(rps "$out")" \
        "$(field "$out" p50_ms)" "$(field "$out" p99_ms)" "$(non2xx "$out")"
done
printf '\nPostgreSQL / SQLite, one instance: heartbeats %s, registrations %s\n' \
    "$(awk -v p="$(rps "$WORK/pg1.txt")" -v s="$(rps "$WORK/sqlite.txt")" 'BEGIN {printf "%.2f", p / s}')" \
    "$(awk -v p="$(rps "$WORK/pg1-reg.txt")" -v s="$(rps "$WORK/sqlite-reg.txt")" 'BEGIN {printf "%.2f", p / s}')"
