#!/usr/bin/env bash
# How long devreg takes to start, two ways (docs/testing.md quotes these figures):
#   1. `devreg serve --ephemeral`, from exec to its ready line on stdout, N times in a row;
#   2. `TestServer::start()`, N servers in one process (examples/startup_time.rs).
#
#   bench/startup.sh            debug build (what `cargo test` and a test runner start), N=50
#   bench/startup.sh 200        N=200
#   bench/startup.sh 50 --release
#
# Prints the median, p90 and maximum of each, and the machine's load average, because
# figures on a machine busy with other work are several times those on a quiet one.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-50}
PROFILE=debug CARGO_FLAGS=()
if [[ "${2:-}" == "--release" ]]; then PROFILE=release CARGO_FLAGS=(--release); fi

cargo build --quiet "${CARGO_FLAGS[@]}" --bin devreg --example startup_time
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $PROFILE build"

python3 - "target/$PROFILE/devreg" "$N" <<'PY'
import subprocess, sys, time
binary, n = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(n):
    started = time.perf_counter()
    server = subprocess.Popen(
        [binary, "serve", "--ephemeral", "--exit-on-stdin-close"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    line = server.stdout.readline()
    times.append((time.perf_counter() - started) * 1000)
    assert line.startswith(b'{"url":'), line
    server.stdin.close()
    server.wait(timeout=10)
times.sort()
at = lambda q: times[round((len(times) - 1) * q)]
print(f"serve --ephemeral, exec to ready line, {n} starts: "
      f"median {at(0.5):.1f} ms, p90 {at(0.9):.1f} ms, max {times[-1]:.1f} ms")
PY

"target/$PROFILE/examples/startup_time" "$N"
