#!/usr/bin/env bash
# Telemetry ingestion beside heartbeats: one run, both figures, and the database bytes
# per stored event. See docs/performance.md ("Telemetry").
#
#   bench/telemetry.sh            10,000 devices, 20 s
#   DEVICES=N DURATION=S bench/telemetry.sh
#
# Seeds a file database, starts `devreg serve` (rate limits off), then for DURATION
# seconds sends, at the same time, batches of 100 events (bench/telemetry.lua, 16
# connections) and heartbeats (bench/heartbeat.lua, 16 connections), each request from a
# different device with its own key. Prints events/s, heartbeats/s, their latencies, and
# (after the server has stopped and checkpointed) the file's growth per stored event.
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${DEVICES:-10000}
DURATION=${DURATION:-20}
PORT=${DEVREG_BENCH_PORT:-18182}
URL="http://127.0.0.1:$PORT"

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)" >&2
    sudo=; [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet --bin devreg
BIN=target/release/devreg

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
    if [[ -n "${DEVREG_BENCH_KEEP:-}" ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
DB="$WORK/bench.db"

echo "seeding $DEVICES devices" >&2
"$BIN" org create org_bench --create --db "$DB" >/dev/null
"$BIN" seed --devices "$DEVICES" --org org_bench --db "$DB" --keys-out "$WORK/keys.csv" >/dev/null
# Two key files, so telemetry and heartbeats come from different devices.
half=$(( DEVICES / 2 ))
head -n "$half" "$WORK/keys.csv" >"$WORK/telemetry-keys.csv"
tail -n +"$(( half + 1 ))" "$WORK/keys.csv" >"$WORK/heartbeat-keys.csv"

start_server() {
    RUST_LOG=warn "$BIN" serve --db "$DB" --bind "127.0.0.1:$PORT" \
        --rate-limit-device 0 --rate-limit-publishable 0 --rate-limit-secret 0 \
        --rate-limit-anonymous 0 >>"$WORK/server.out" 2>>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=; }

# A start and stop first, so the size before counts the schema and a checkpointed file.
start_server; stop_server
size_before=$(stat -c %s "$DB")

start_server
echo "telemetry batches and heartbeats together, ${DURATION}s" >&2
wrk --latency -t1 -c16 -d"${DURATION}s" -s bench/telemetry.lua "$URL" -- "$WORK/telemetry-keys.csv" \
    >"$WORK/telemetry.txt" 2>&1 &
TELEMETRY_PID=$!
wrk --latency -t1 -c16 -d"${DURATION}s" -s bench/heartbeat.lua "$URL" -- "$WORK/heartbeat-keys.csv" \
    >"$WORK/heartbeat.txt" 2>&1
wait "$TELEMETRY_PID"
metrics=$(curl -sf "$URL/metrics")
stop_server
size_after=$(stat -c %s "$DB")

rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/$1.txt"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ {n=$5} END {print n+0}' "$WORK/$1.txt"; }
field() { grep -o "$2=[0-9.]*" "$WORK/$1.txt" | head -1 | cut -d= -f2; }
stored=$(awk '/^devreg_telemetry_events_total\{source="batch"\}/ {print $2}' <<<"$metrics")
batches=$(rps telemetry)

printf 'devreg telemetry benchmark: %s devices, %ss, %s, %s cores\n' \
    "$DEVICES" "$DURATION" "$(date -u +%F)" "$(nproc)"
printf '| measure | result |\n|---|---|\n'
printf '| telemetry, batches of 100 (16 connections) | %s events/s (%s batches/s), p50 %s ms, p99 %s ms |\n' \
    "$(( batches * 100 ))" "$batches" "$(field telemetry p50_ms)" "$(field telemetry p99_ms)"
printf '| heartbeats at the same time (16 connections) | %s req/s, p50 %s ms, p99 %s ms |\n' \
    "$(rps heartbeat)" "$(field heartbeat p50_ms)" "$(field heartbeat p99_ms)"
printf '| events stored | %s |\n' "$stored"
printf '| database growth per stored event | %s bytes (%s bytes for %s events) |\n' \
    "$(( (size_after - size_before) / stored ))" "$(( size_after - size_before ))" "$stored"
printf '| non-2xx responses | telemetry %s, heartbeats %s |\n' "$(non2xx telemetry)" "$(non2xx heartbeat)"
