"""Issue 15: a model update staged from the command line (`devreg model add`, `devreg
deploy`, `devreg deployment show`) reaches the official Python SDK's get_desired_state(),
and what the SDK reports moves the counts `devreg deployment show` prints.

The operator commands work on a database file, so this test runs its own devreg on a
file (not the session's ephemeral one), with preset keys, and runs the commands beside it
on the same file, as an operator would.
"""

import json
import os
import secrets
import socket
import string
import subprocess
import tempfile
import uuid

import pytest
import requests

from octomil.control import OctomilControl
from octomil.python.octomil.api_client import _ApiClient

from conftest import DEVREG, wait_for

MODEL_ID = "kbd-next-word"
VERSION = "2.0.0"


def _key(prefix):
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def file_server():
    """devreg serve on a database file in a temporary directory."""
    workdir = tempfile.mkdtemp(prefix="devreg-cli-")
    db = os.path.join(workdir, "devreg.db")
    secret, publishable = _key("edg_live_"), _key("oct_pub_live_")
    port = _free_port()
    proc = subprocess.Popen(
        [DEVREG, "serve", "--db", db, "--bind", f"127.0.0.1:{port}", "--secret-key", secret,
         "--publishable-key", publishable, "--exit-on-stdin-close"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready():
        try:
            return requests.get(f"{url}/readyz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(ready, timeout=20, what="devreg serve on a file")
    yield {"url": url, "db": db, "secret_key": secret, "publishable_key": publishable,
           "org_id": "org_demo", "workdir": workdir}
    proc.stdin.close()
    proc.wait(timeout=10)


def devreg(server, *args):
    """Runs an operator command on the server's database file; returns its stdout."""
    done = subprocess.run([DEVREG, *args, "--db", server["db"]], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_devreg_deploy_reaches_get_desired_state_and_show_counts_the_report(file_server):
    server = file_server
    artifact = os.path.join(server["workdir"], "model.onnx")
    with open(artifact, "wb") as f:
        f.write(b"\x08\x07" * 1000)
    out = devreg(server, "model", "add", MODEL_ID, "--version", VERSION,
                 "--url", "https://cdn.example.com/kbd/2.0.0/model.onnx", "--file", artifact)
    assert "2000 bytes" in out

    api = _ApiClient(auth_token_provider=lambda: server["secret_key"], api_base=f"{server['url']}/api/v1")
    control = OctomilControl(api=api, org_id=server["org_id"])
    identifier = f"cli-{uuid.uuid4().hex[:8]}"
    reg = control.register(device_id=identifier)

    out = devreg(server, "deploy", MODEL_ID, VERSION, "--device", identifier)
    assert "to 1 device" in out
    deployment_id = out.strip().splitlines()[-1].split()[-1]

    [entry] = control.get_desired_state()
    assert (entry["model_id"], entry["version"], entry["deployment_id"]) == (MODEL_ID, VERSION, deployment_id)
    assert entry["total_bytes"] == 2000

    control.report_observed_state(models=[
        {"modelId": MODEL_ID, "status": "ACTIVE", "installedVersion": VERSION, "activeVersion": VERSION}
    ])
    shown = json.loads(devreg(server, "deployment", "show", deployment_id, "--json"))
    assert (shown["targeted"], shown["synced"], shown["active"], shown["failed"]) == (1, 1, 1, 0)
    text = devreg(server, "deployment", "show", deployment_id)
    assert "targeted 1  synced 1  active 1  failed 0" in text
    assert reg.id
