"""A three-device federated round with the official Python SDK's DeviceFederatedClient
(octomil==4.17.42, unmodified) against a throwaway `devreg serve --ephemeral`.

    pip install -r tests/sdk/requirements.txt   # octomil, httpx, requests
    cargo build --bin devreg
    python examples/federated_round.py           # DEVREG_BIN=... to pick the binary

The operator (secret key) adds a model version and starts a round wanting 3 devices;
each device registers, takes the offer, joins, fetches the plan, "trains" (a fixed update
here), uploads its envelope in parts to the part URLs devreg hands out and completes.
The third completion completes the round; the FedAvg aggregate is printed.
"""

import json
import os
import shutil
import subprocess
import tempfile

# The SDK writes under ~/.octomil and fetches a catalogue at import: keep both local.
os.environ.setdefault("HOME", tempfile.mkdtemp(prefix="devreg-example-"))
os.environ.setdefault("OCTOMIL_API_BASE", "http://127.0.0.1:9/api/v1")

import httpx  # noqa: E402
import requests  # noqa: E402
from octomil.device_agent.db.local_db import LocalDB  # noqa: E402
from octomil.device_agent.training.db_schema import TRAINING_SCHEMA_STATEMENTS  # noqa: E402
from octomil.device_agent.training.federated_client import DeviceFederatedClient  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEVREG = os.environ.get("DEVREG_BIN") or shutil.which("devreg") or os.path.join(
    HERE, "..", "target", "debug", "devreg"
)

UPDATES = [[0.10, -0.20, 0.05, 0.30], [0.02, 0.04, -0.06, 0.08], [-0.30, 0.10, 0.20, 0.00]]
SAMPLES = [10, 30, 60]


def main():
    server = subprocess.Popen(
        [DEVREG, "serve", "--ephemeral", "--exit-on-stdin-close"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn")),
    )
    try:
        ready = json.loads(server.stdout.readline())
        run(ready["url"], ready["secret_key"], ready["publishable_key"])
    finally:
        server.stdin.close()
        server.wait(timeout=10)


def run(url, secret_key, publishable_key):
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {secret_key}"
    admin.post(f"{url}/api/v1/models", json={"model_id": "kbd"}).raise_for_status()
    admin.post(f"{url}/api/v1/models/kbd/versions", json={
        "version": "1.0.0", "format": "onnx", "total_bytes": 4096, "sha256": "cd" * 32,
        "download_url": "https://example.com/kbd.onnx",
    }).raise_for_status()
    res = admin.post(f"{url}/api/v1/training/rounds",
                     json={"model_id": "kbd", "base_version": "1.0.0", "min_devices": 3})
    res.raise_for_status()
    round_id = res.json()["id"]
    print(f"round {round_id} started, wants 3 devices")

    for i, (update, samples) in enumerate(zip(UPDATES, SAMPLES)):
        device = requests.post(
            f"{url}/api/v1/devices/register",
            headers={"Authorization": f"Bearer {publishable_key}"},
            json={"device_identifier": f"phone-{i}", "platform": "python"},
        ).json()
        db = LocalDB(":memory:")
        for statement in TRAINING_SCHEMA_STATEMENTS:
            db.execute(statement)
        http = httpx.Client(headers={"Authorization": f"Bearer {device['api_key']}"})
        fc = DeviceFederatedClient(db, api_base=f"{url}/api/v1", http_client=http)

        [offer] = fc.check_offers(device["id"])
        pid = fc.join_round(offer["round_id"], device["id"])
        fc.transition(pid, "PLAN_FETCHING")
        plan = fc.fetch_plan(offer["plan_id"])
        fc.transition(pid, "PLAN_READY")
        raw = fc.run_local_training(pid, plan, lambda ctx, u=update: {"update": u})
        envelope = fc.prepare_update(pid, raw, clip_norm=plan.clip_norm,
                                     noise_sigma=plan.noise_sigma)
        fc.transition(pid, "UPLOADING")
        sent = json.loads(envelope)
        meta = {"sample_count": samples, "size": sent["size"], "sha256": sent["sha256"]}
        upload_id, part_urls = fc.initiate_upload(plan.round_id, pid, meta)
        assert fc.upload_parts(upload_id, envelope, part_urls)
        assert fc.complete_upload(plan.round_id, upload_id, meta)
        print(f"phone-{i}: sent {sent['data']} weighted {samples} in {len(part_urls)} part(s)")

    result = admin.get(f"{url}/api/v1/training/rounds/{round_id}/result").json()
    print(f"aggregate ({result['algorithm']}, {result['participants']} devices, "
          f"{result['sample_count']} samples): {result['aggregate']}")


if __name__ == "__main__":
    main()
