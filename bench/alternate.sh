# Sourced by the scripts that alternate devreg builds on copies of one seeded database
# (bench/compare.sh, bench/telemetry-cpu.sh), after `shift`ing their own arguments so
# that "$@" is the NAME=BIN list and PORT is set: checks the builds and wrk, makes WORK
# (removed on exit with the server), and defines start BIN DB, start_on_copy BIN (on a
# fresh copy of $TEMPLATE), stop, and readers of wrk's output and the server's CPU.
for spec in "$@"; do
    [[ $spec == *=* && -x ${spec#*=} ]] || { echo "$spec: NAME=BIN with an executable BIN" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "needs wrk (Debian package wrk)" >&2; exit 2; }
URL="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
SERVER_PID=
cleanup() { [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # BIN DB
    RUST_LOG=warn "$1" serve --db "$2" --bind "127.0.0.1:$PORT" \
        --rate-limit-device 0 --rate-limit-publishable 0 --rate-limit-secret 0 \
        --rate-limit-anonymous 0 --max-devices-per-org 0 >/dev/null 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 300); do curl -sf "$URL/healthz" >/dev/null && return; sleep 0.1; done
    echo "the server did not start:" >&2
    cat "$WORK/server.err" >&2
    exit 1
}
stop() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }
start_on_copy() { # BIN
    cp "$TEMPLATE" "$WORK/run.db"
    sync
    start "$1" "$WORK/run.db"
}

rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ {n=$5} END {print n+0}' "$1"; }
requests() { awk '/requests in/ {print $1}' "$1"; }
# The server's user + system CPU time so far, in clock ticks (/proc/PID/stat fields 14, 15).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
TICKS=$(getconf CLK_TCK)
