#!/usr/bin/env bash
# Hosted model files (issue 26, "Measure"): one run, every ratio from this run's figures.
#
#   bench/artifacts.sh        a 1 GiB file; 100 downloads of a 100 MiB version at once
#
# 1. Upload and download a 1 GiB file over loopback, each beside the same run's
#    `cat FILE > /dev/null` read rate of the same file (page cache warm for both), with the
#    server's RSS growth during each (VmRSS before, VmHWM after: /proc/PID/status), and
#    beside the same client's download from bench/sendfile_server.py, a server that only
#    sendfile()s the file (a reference, not a ceiling).
# 2. Heartbeats at half their closed-loop rate (wrk, bench/heartbeat.lua, then
#    examples/loadgen.rs open loop) alone twice (their difference is the noise), then beside
#    100 concurrent downloads of a 100 MiB version: p99 of each.
# Not run in CI. Builds release. Env: FILE_MIB (1024), VERSION_MIB (100), DOWNLOADS
# (100), DEVICES (10000), DURATION (10 s), DEVREG_BENCH_PORT (18191); DEVREG_BIN and
# LOADGEN_BIN to use other builds.
set -euo pipefail
cd "$(dirname "$0")/.."

FILE_MIB=${FILE_MIB:-1024} VERSION_MIB=${VERSION_MIB:-100} DOWNLOADS=${DOWNLOADS:-100}
DEVICES=${DEVICES:-10000} DURATION=${DURATION:-10}
PORT=${DEVREG_BENCH_PORT:-18191}
URL="http://127.0.0.1:$PORT"
if [[ -z "${DEVREG_BIN:-}" || -z "${LOADGEN_BIN:-}" ]]; then
    cargo build --release --quiet --bin devreg --example loadgen
fi
BIN=${DEVREG_BIN:-target/release/devreg}
LOADGEN=${LOADGEN_BIN:-target/release/examples/loadgen}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
DB="$WORK/bench.db"
SECRET=$("$BIN" org create org_bench --create --db "$DB" | awk '/secret key:/ {print $3}')
"$BIN" seed --devices "$DEVICES" --org org_bench --db "$DB" \
    --keys-out "$WORK/keys.csv" --keys-limit "$DEVICES" >/dev/null
RUST_LOG=warn "$BIN" serve --db "$DB" --artifacts "$WORK/artifacts" --bind "127.0.0.1:$PORT" \
    --rate-limit-device 0 --rate-limit-publishable 0 --rate-limit-secret 0 \
    --rate-limit-anonymous 0 --max-devices-per-org 0 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }
# the peak (VmHWM) from here on: Linux resets it to the current RSS on "5" (clear_refs)
peak_from_now() { echo 5 >"/proc/$SERVER_PID/clear_refs"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
# now: seconds with nanoseconds; rate MIB SECONDS: MiB/s
now() { date +%s.%N; }
rate() { awk -v m="$1" -v s="$2" 'BEGIN {printf "%.0f", m / s}'; }

# publish NAME VERSION FILE: the upload URL, the PUT (timed), the confirm; echoes seconds
publish() {
    local ticket upload key t0 t1
    ticket=$(curl -sf -X POST "$URL/api/v1/models/$1/versions/upload-url" \
        -H "Authorization: Bearer $SECRET" -d filename=model.bin)
    upload=$(echo "$ticket" | json '["upload_url"]')
    key=$(echo "$ticket" | json '["storage_key"]')
    t0=$(now)
    # -T streams the file (--data-binary would read all of it into curl's memory first)
    curl -sf -T "$3" -H 'Content-Type: application/octet-stream' "$upload" >/dev/null
    t1=$(now)
    curl -sf -X POST "$URL/api/v1/models/$1/versions/confirm-upload" \
        -H "Authorization: Bearer $SECRET" -d version="$2" -d storage_key="$key" \
        -d file_size="$(stat -c %s "$3")" >/dev/null
    awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}'
}
signed_url() {
    curl -sf "$URL/api/v1/models/$1/versions/$2/download-url" \
        -H "Authorization: Bearer $SECRET" | json '["url"]'
}

echo "1. a ${FILE_MIB} MiB file" >&2
head -c $((FILE_MIB * 1024 * 1024)) /dev/urandom >"$WORK/big.bin"
cat "$WORK/big.bin" >/dev/null
t0=$(now); cat "$WORK/big.bin" >/dev/null; t1=$(now)
CAT=$(rate "$FILE_MIB" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
peak_from_now; RSS0=$(kib VmRSS)
UP_S=$(publish big 1.0.0 "$WORK/big.bin")
UP_RSS=$(( ($(kib VmHWM) - RSS0) / 1024 ))
UP=$(rate "$FILE_MIB" "$UP_S")
BIG_URL=$(signed_url big 1.0.0)
peak_from_now; RSS1=$(kib VmRSS)
t0=$(now); curl -sf -o /dev/null "$BIG_URL"; t1=$(now)
DOWN=$(rate "$FILE_MIB" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
DOWN_RSS=$(( ($(kib VmHWM) - RSS1) / 1024 ))
# a reference: the same file by the same client from a server that only sendfile()s it
python3 bench/sendfile_server.py $((PORT + 1)) "$WORK/big.bin" & CEIL_PID=$!
for _ in $(seq 50); do (: >"/dev/tcp/127.0.0.1/$((PORT + 1))") 2>/dev/null && break; sleep 0.1; done
t0=$(now); curl -sf -o /dev/null "http://127.0.0.1:$((PORT + 1))/"; t1=$(now)
kill "$CEIL_PID"
CEIL=$(rate "$FILE_MIB" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")

echo "2. heartbeats at half their closed-loop rate, alone and beside $DOWNLOADS downloads" >&2
wrk -t1 -c64 -d"${DURATION}s" -s bench/heartbeat.lua "$URL" -- "$WORK/keys.csv" \
    >"$WORK/closed.txt" 2>&1
CLOSED=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/closed.txt")
HALF=$(( CLOSED / 2 ))
head -c $((VERSION_MIB * 1024 * 1024)) /dev/urandom >"$WORK/version.bin"
publish fleet 1.0.0 "$WORK/version.bin" >/dev/null
# the publish's 100 MiB written back before the runs, not during the first of them
sync; sleep 1
FLEET_URL=$(signed_url fleet 1.0.0)
p99() { grep -o 'p99_ms=[0-9.]*' "$1" | cut -d= -f2; }
"$LOADGEN" "$URL" "$WORK/keys.csv" "$HALF" "$DURATION" >"$WORK/alone.txt"
# a second run alone: how far two runs without downloads differ is the noise
"$LOADGEN" "$URL" "$WORK/keys.csv" "$HALF" "$DURATION" >"$WORK/alone2.txt"
peak_from_now; RSS2=$(kib VmRSS)
DL_PIDS=()
for _ in $(seq "$DOWNLOADS"); do
    curl -sf -o /dev/null "$FLEET_URL" & DL_PIDS+=($!)
done
t0=$(now)
"$LOADGEN" "$URL" "$WORK/keys.csv" "$HALF" "$DURATION" >"$WORK/beside.txt"
wait "${DL_PIDS[@]}"; t1=$(now)
MANY_RSS=$(( ($(kib VmHWM) - RSS2) / 1024 ))
SERVED=$(awk -v n="$DOWNLOADS" -v m="$VERSION_MIB" -v a="$t0" -v b="$t1" \
    'BEGIN {printf "%.0f", n * m / (b - a)}')

echo
echo "hosted artifacts, $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
printf '%-46s %s\n' "cat FILE > /dev/null (MiB/s)" "$CAT"
printf '%-46s %s (%.2f of cat)\n' "upload ${FILE_MIB} MiB (MiB/s)" "$UP" "$(awk -v a="$UP" -v b="$CAT" 'BEGIN {print a / b}')"
printf '%-46s %s MiB\n' "  server RSS growth during the upload" "$UP_RSS"
printf '%-46s %s (%.2f of cat)\n' "sendfile-only server, same client (MiB/s)" "$CEIL" "$(awk -v a="$CEIL" -v b="$CAT" 'BEGIN {print a / b}')"
printf '%-46s %s (%.2f of cat, %.2f of sendfile)\n' "download ${FILE_MIB} MiB (MiB/s)" "$DOWN" "$(awk -v a="$DOWN" -v b="$CAT" 'BEGIN {print a / b}')" "$(awk -v a="$DOWN" -v b="$CEIL" 'BEGIN {print a / b}')"
printf '%-46s %s MiB\n' "  server RSS growth during the download" "$DOWN_RSS"
printf '%-46s %s/s\n' "heartbeats, closed loop (wrk, 64 connections)" "$CLOSED"
printf '%-46s %s and %s ms\n' "heartbeat p99 at $HALF/s, alone (two runs)" "$(p99 "$WORK/alone.txt")" "$(p99 "$WORK/alone2.txt")"
printf '%-46s %s ms\n' "heartbeat p99 at $HALF/s, beside $DOWNLOADS downloads" "$(p99 "$WORK/beside.txt")"
printf '%-46s %s MiB/s\n' "  $DOWNLOADS x ${VERSION_MIB} MiB served, aggregate" "$SERVED"
printf '%-46s %s MiB\n' "  server RSS growth during them" "$MANY_RSS"
