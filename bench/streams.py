#!/usr/bin/env python3
"""Writes beside many open event streams (issue 29, security 8): one run, each build.

    bench/streams.py [STREAMS] [WRITES] NAME=BIN [NAME=BIN ...]

For each build, on an ephemeral (in-memory) server: WRITES registrations one after
another with no stream open, then with STREAMS event streams open that never read (a
slow consumer each), then the stream count the server's metrics give for its reads.
Defaults: 2,000 streams, 20 writes. Standard library only; not run in CI.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import time

PORT = 18231


def start(binary):
    server = subprocess.Popen(
        [binary, "serve", "--ephemeral", "--bind", f"127.0.0.1:{PORT}",
         "--max-streams-per-key", "0", "--rate-limit-secret", "0",
         "--rate-limit-anonymous", "0", "--max-devices-per-org", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "RUST_LOG": "warn"})
    # The ready line: one JSON object with the keys.
    secret = json.loads(server.stdout.readline())["secret_key"]
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return server, secret
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{binary} did not start")


def writes(secret, n, tag):
    conn = http.client.HTTPConnection("127.0.0.1", PORT)
    started = time.perf_counter()
    for i in range(n):
        conn.request("POST", "/api/v1/devices/register",
                     body=json.dumps({"device_id": f"{tag}-{i}"}),
                     headers={"Authorization": f"Bearer {secret}",
                              "Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        if reply.status != 201:
            raise SystemExit(f"registration answered {reply.status}")
    return time.perf_counter() - started


def open_streams(secret, n):
    streams = []
    request = (f"GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {secret}\r\n\r\n").encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", PORT))
        s.sendall(request)
        streams.append(s)
    # Each answered 200 (read the head only; the body is never read).
    for s in streams:
        head = s.recv(4096)
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"a stream answered {head[:40]!r}")
    return streams


def main():
    args = sys.argv[1:]
    numbers = [int(a) for a in args if a.isdigit()]
    builds = [a.split("=", 1) for a in args if "=" in a]
    if not builds:
        raise SystemExit(__doc__)
    streams_n = numbers[0] if numbers else 2000
    writes_n = numbers[1] if len(numbers) > 1 else 20
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"{writes_n} writes beside {streams_n} stalled event streams, load average {load}")
    for name, binary in builds:
        server, secret = start(binary)
        try:
            alone = writes(secret, writes_n, "alone")
            streams = open_streams(secret, streams_n)
            time.sleep(1)  # every stream past its first read
            beside = writes(secret, writes_n, "beside")
            for s in streams:
                s.close()
            print(f"{name:10} alone {alone:.3f} s   beside {streams_n} streams {beside:.3f} s"
                  f"   ({beside / alone:.1f}x)")
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
