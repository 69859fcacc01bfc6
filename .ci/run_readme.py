"""Runs the README's shell commands in the order written, as a newcomer would on a fresh
clone: `cargo run -- serve` in the background (its banner gives the secret key the
examples export), then each example's curl, each of which must answer JSON that is not an
error and whose fields are those of the sample answer the README shows after it (the ```json
block that follows the command's block): the same keys at every depth, values aside.
`cargo test` is skipped (CI has just run it). The server's database goes to a temporary
directory through DEVREG_DB, so a developer's ./devreg.db is left alone; the commands
themselves run exactly as the README writes them, from the repository root."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

root = pathlib.Path(__file__).resolve().parent.parent
readme = (root / "README.md").read_text()
fences = [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", readme, re.S)]
# Each shell block, with the sample answer the README shows right after it (or None).
blocks = [
    (text, json.loads(fences[i + 1][1]) if fences[i + 1 : i + 2] and fences[i + 1][0] == "json" else None)
    for i, (lang, text) in enumerate(fences)
    if lang in ("sh", "bash")
]


def shape_differences(sample, real, where="the answer"):
    """Where the README's sample and devreg's real answer differ in their keys: objects are
    compared key by key at every depth, a list by its first element; values are not."""
    if isinstance(sample, dict) and isinstance(real, dict):
        found = [f"{where}.{k}: devreg answers it, the README's sample lacks it" for k in real if k not in sample]
        found += [f"{where}.{k}: in the README's sample, not in devreg's answer" for k in sample if k not in real]
        for k in sample.keys() & real.keys():
            found += shape_differences(sample[k], real[k], f"{where}.{k}")
        return found
    if isinstance(sample, list) and isinstance(real, list) and sample and real:
        return shape_differences(sample[0], real[0], f"{where}[0]")
    return []



workdir = tempfile.mkdtemp(prefix="devreg-readme-")
env = dict(os.environ, DEVREG_DB=os.path.join(workdir, "devreg.db"))
env.pop("DEVREG_SECRET_KEY", None)
server = None
secret = None
ran = 0
try:
    for block, sample in blocks:
        # The quick start's block is two commands; every other block is one command.
        lines = [re.sub(r"\s+#.*$", "", l).strip() for l in block.strip().splitlines()]
        for command in lines if "cargo test" in lines else [block.strip()]:
            if command == "cargo test":
                continue
            if command == "cargo run -- serve":
                server = subprocess.Popen(
                    ["bash", "-c", command], cwd=root, env=env, stdout=subprocess.PIPE,
                    text=True, start_new_session=True,
                )
                printed = []
                for line in server.stdout:
                    printed.append(line)
                    if "secret key:" in line:
                        secret = line.split()[2]
                        break
                else:
                    sys.exit("cargo run -- serve printed no secret key:\n" + "".join(printed))
                healthy = False
                for _ in range(100):
                    try:
                        urllib.request.urlopen("http://127.0.0.1:8080/healthz", timeout=1)
                        healthy = True
                        break
                    except OSError:
                        if server.poll() is not None:
                            break
                        time.sleep(0.1)
                if not healthy:
                    os.killpg(server.pid, signal.SIGINT)
                    try:
                        rest, _ = server.communicate(timeout=10)
                    except subprocess.TimeoutExpired:
                        os.killpg(server.pid, signal.SIGKILL)
                        rest, _ = server.communicate()
                    code = server.returncode
                    server = None
                    sys.exit(
                        "cargo run -- serve printed its key but GET http://127.0.0.1:8080/healthz "
                        f"did not answer 200 within 10 s (server exit {code}); its stdout "
                        "(its stderr is above; key lines left out):\n"
                        + "".join(l for l in (printed + rest.splitlines(True)) if " key:" not in l)
                    )
                continue
            if re.match(r"export OCTOMIL_API_KEY=\S+(\s+#.*)?$", command):
                if secret is None:
                    sys.exit("the README exports the key before any server printed one")
                env["OCTOMIL_API_KEY"] = secret
                continue
            result = subprocess.run(
                ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True
            )
            ran += 1
            try:
                body = json.loads(result.stdout)
            except ValueError:
                body = None
            if result.returncode != 0 or not isinstance(body, dict) or "error" in body:
                sys.exit(
                    f"README command failed:\n{command}\nexit {result.returncode}\n"
                    f"{result.stdout}{result.stderr}"
                )
            differences = shape_differences(sample, body) if sample is not None else []
            if differences:
                sys.exit(
                    f"README: the sample answer after\n{command}\nis not the shape of devreg's "
                    "answer (copy the real answer's fields, with the README's example values):\n  "
                    + "\n  ".join(differences)
                )
finally:
    if server is not None:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
if server is None or ran < 4:
    sys.exit(f"expected the quick start's server and the four examples; ran {ran} commands")
print(f"README: the quick start's server and {ran} example commands ran in order")
