#!/usr/bin/env python3
"""Checks that the Dockerfile builds a devreg that starts (fly.toml deploys this file).

With a running docker daemon: `docker build` the image, run `devreg serve --ephemeral` in
it and read its ready line. Without one (docker may be installed with no daemon, as on
CI machines that run in a container): copy exactly what the Dockerfile's build stage
COPYs into an empty directory laid out as the image's WORKDIR, `cargo build --locked`
there, start that binary and read its ready line, then ask it for /healthz. A file the
build needs but the Dockerfile does not copy (console/, schema.pg.sql) fails either way.

    python3 .ci/dockerfile_context.py [DOCKERFILE]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_stage_copies(dockerfile):
    """The (sources, destination) of each COPY in the first stage, and its WORKDIR."""
    workdir, copies, stages = "/", [], 0
    with open(dockerfile) as f:
        for line in f:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            instruction = words[0].upper()
            if instruction == "FROM":
                stages += 1
                if stages > 1:
                    break
            elif instruction == "WORKDIR":
                workdir = os.path.join(workdir, words[1])
            elif instruction in ("COPY", "ADD"):
                args = [w for w in words[1:] if not w.startswith("--")]
                if any(w.startswith("--from") for w in words[1:]):
                    continue
                copies.append((args[:-1], os.path.join(workdir, args[-1])))
    return workdir, copies


def ready_line(command, **popen):
    """Starts `command`, reads its first stdout line as JSON, and returns (process, line)."""
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, **popen)
    line = server.stdout.readline()
    try:
        return server, json.loads(line)
    except ValueError:
        server.kill()
        sys.exit(f"no ready line from {' '.join(command)}: {line!r}")


def stop(server):
    server.stdin.close()
    if server.wait(timeout=30) != 0:
        sys.exit(f"the server exited with {server.returncode}")


def with_docker(dockerfile):
    tag = "devreg:ci-dockerfile-check"
    subprocess.run(["docker", "build", "-f", dockerfile, "-t", tag, ROOT], check=True)
    server, ready = ready_line(
        ["docker", "run", "--rm", "-i", tag, "serve", "--ephemeral", "--exit-on-stdin-close"]
    )
    print(f"the image started: its ready line names {ready['org_id']}")
    stop(server)


def from_the_copied_context(dockerfile):
    workdir, copies = build_stage_copies(dockerfile)
    with tempfile.TemporaryDirectory(prefix="devreg-dockerfile-") as context:
        def inside(path):
            return os.path.join(context, os.path.relpath(path, "/"))

        for sources, destination in copies:
            for source in sources:
                origin = os.path.join(ROOT, source)
                target = destination
                if destination.endswith("/") or len(sources) > 1:
                    target = os.path.join(destination, os.path.basename(source.rstrip("/")))
                os.makedirs(os.path.dirname(inside(target)), exist_ok=True)
                if os.path.isdir(origin):
                    shutil.copytree(origin, inside(target), dirs_exist_ok=True)
                else:
                    shutil.copy2(origin, inside(target))
        print("the build stage copies:", sorted(os.listdir(inside(workdir))), flush=True)
        # The repository's target directory: the dependencies are built once for both.
        target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        build = subprocess.run(
            ["cargo", "build", "--locked", "--bin", "devreg", "--target-dir", target_dir],
            cwd=inside(workdir),
        )
        if build.returncode != 0:
            sys.exit(
                "cargo build failed in a directory holding only what the Dockerfile's build "
                "stage copies: a file the build reads is missing from its COPY lines"
            )
        binary = os.path.join(target_dir, "debug", "devreg")
        server, ready = ready_line(
            [binary, "serve", "--ephemeral", "--exit-on-stdin-close"],
            cwd=context,
            env=dict(os.environ, RUST_LOG="warn"),
        )
        with urllib.request.urlopen(ready["url"] + "/healthz", timeout=10) as answer:
            health = json.load(answer)
        if health.get("status") != "ok":
            sys.exit(f"/healthz answered {health}")
        print(f"built from the Dockerfile's context alone, it started: /healthz {health}")
        stop(server)


def main():
    dockerfile = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Dockerfile"))
    daemon = shutil.which("docker") and subprocess.run(
        ["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode == 0
    if daemon:
        with_docker(dockerfile)
    else:
        print("no docker daemon: building from exactly what the Dockerfile copies", flush=True)
        from_the_copied_context(dockerfile)


if __name__ == "__main__":
    main()
