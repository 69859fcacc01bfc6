"""Issue 17: a three-device federated round with the Python device agent's
`DeviceFederatedClient` (octomil/device_agent/training/federated_client.py), unmodified.

The client has no auth of its own: it uses the httpx.Client it is given, so each device's
client carries that device's key, and the same client PUTs the upload parts.
Its api_base includes /api/v1 (default https://api.octomil.com/api/v1).
"""

import hashlib
import json
import uuid

import httpx
import pytest
import requests

from octomil.device_agent.db.local_db import LocalDB
from octomil.device_agent.training.db_schema import TRAINING_SCHEMA_STATEMENTS
from octomil.device_agent.training.federated_client import DeviceFederatedClient

from conftest import api_url, register_device

MODEL_ID = "kbd-next-word"
BASE_VERSION = "1.0.0"


def create_model_version(devreg, admin):
    url = devreg["url"]
    res = admin.post(f"{url}/api/v1/models", json={"model_id": MODEL_ID})
    assert res.status_code in (200, 201), res.text
    res = admin.post(
        f"{url}/api/v1/models/{MODEL_ID}/versions",
        json={
            "version": BASE_VERSION,
            "format": "onnx",
            "total_bytes": 4096,
            "sha256": "cd" * 32,
            "download_url": f"{url}/artifacts/{MODEL_ID}/model.onnx",
        },
    )
    assert res.status_code == 201, res.text


def start_round(devreg, admin, min_devices):
    res = admin.post(
        f"{devreg['url']}/api/v1/training/rounds",
        json={"model_id": MODEL_ID, "base_version": BASE_VERSION, "min_devices": min_devices},
    )
    assert res.status_code == 201, res.text
    return res.json()["id"]


def device_client(devreg, device):
    db = LocalDB(":memory:")
    for stmt in TRAINING_SCHEMA_STATEMENTS:  # the SDK's LocalDB does not create these itself
        db.execute(stmt)
    http = httpx.Client(headers={"Authorization": f"Bearer {device['api_key']}"}, timeout=10.0)
    return DeviceFederatedClient(db, api_base=api_url(devreg), http_client=http), http


def take_part(fc, device_id, round_id, update, sample_count):
    """One device's whole participation, as an app drives the SDK's state machine.
    Returns (the envelope's data as uploaded, whether complete_upload succeeded)."""
    offers = fc.check_offers(device_id)
    assert isinstance(offers, list), offers
    [offer] = [o for o in offers if o["round_id"] == round_id]

    participation_id = fc.join_round(round_id, device_id, capabilities={"ram_mb": 4096})
    fc.transition(participation_id, "PLAN_FETCHING")
    plan = fc.fetch_plan(offer["plan_id"])
    assert (plan.round_id, plan.model_id, plan.base_version) == (round_id, MODEL_ID, BASE_VERSION)
    fc.transition(participation_id, "PLAN_READY")

    raw = fc.run_local_training(participation_id, plan, lambda ctx: {"update": update})
    envelope = fc.prepare_update(
        participation_id,
        raw,
        clip_norm=plan.clip_norm,
        noise_sigma=plan.noise_sigma,
        secure_agg_config=plan.secure_agg_config,
    )
    parsed = json.loads(envelope)
    assert parsed["format"] == "plaintext_json"
    fc.transition(participation_id, "UPLOADING")
    meta = {"sample_count": sample_count, "size": parsed["size"], "sha256": parsed["sha256"]}
    upload_id, part_urls = fc.initiate_upload(round_id, participation_id, meta)
    assert part_urls, "devreg must hand out at least one part URL (none means nothing is uploaded)"
    assert fc.upload_parts(upload_id, envelope, part_urls)
    ok = fc.complete_upload(round_id, upload_id, meta)
    if ok:
        fc.transition(participation_id, "UPLOADED")
        fc.transition(participation_id, "ACKNOWLEDGED")
        fc.transition(participation_id, "COMPLETED")
    return parsed["data"], ok


def test_three_devices_offer_join_plan_upload_complete_fedavg(devreg, admin):
    url = devreg["url"]
    create_model_version(devreg, admin)
    devices = [register_device(devreg, f"sdk-fl-{i}-{uuid.uuid4().hex[:6]}") for i in range(3)]
    round_id = start_round(devreg, admin, min_devices=3)

    updates = [[0.10, -0.20, 0.05, 0.30], [0.02, 0.04, -0.06, 0.08], [-0.30, 0.10, 0.20, 0.00]]
    samples = [10, 30, 60]
    uploaded = []
    for device, update, n in zip(devices, updates, samples):
        data, ok = take_part(device_client(devreg, device)[0], device["id"], round_id, update, n)
        assert ok, "complete_upload must answer exactly 200"
        uploaded.append(data)

    total = sum(samples)
    expected = [sum(n * vec[i] for n, vec in zip(samples, uploaded)) / total for i in range(4)]

    res = admin.get(f"{url}/api/v1/training/rounds/{round_id}/result")
    assert res.status_code == 200, res.text
    result = res.json()
    assert result["round_id"] == round_id
    assert result["participants"] == 3
    assert result["sample_count"] == total
    assert result["algorithm"] == "fedavg"
    assert result["aggregate"] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_wrong_digest_is_refused_and_nothing_kept(devreg, admin):
    url = devreg["url"]
    create_model_version(devreg, admin)
    device = register_device(devreg, f"sdk-fl-bad-{uuid.uuid4().hex[:6]}")
    round_id = start_round(devreg, admin, min_devices=1)
    fc, http = device_client(devreg, device)

    offers = fc.check_offers(device["id"])
    [offer] = [o for o in offers if o["round_id"] == round_id]
    pid = fc.join_round(round_id, device["id"])
    plan = fc.fetch_plan(offer["plan_id"])
    payload = json.dumps([0.5, 0.25]).encode()
    envelope = json.dumps(
        {"format": "plaintext_json", "sha256": hashlib.sha256(payload).hexdigest(),
         "size": len(payload), "data": [0.5, 0.75]}  # not the data the digest is of
    ).encode()
    meta = {"sample_count": 5}
    upload_id, part_urls = fc.initiate_upload(plan.round_id, pid, meta)
    assert part_urls
    assert fc.upload_parts(upload_id, envelope, part_urls)
    res = http.post(f"{api_url(devreg)}/federation/rounds/{round_id}/uploads/{upload_id}/complete",
                        json={"meta": meta, "privacy_proof": None})
    assert res.status_code == 400, res.text
    assert res.json()["error"] == "bad_request"
    assert not fc.complete_upload(round_id, upload_id, meta)
    # Nothing was kept: the round, min_devices=1 and no update, is still active (409).
    got = admin.get(f"{url}/api/v1/training/rounds/{round_id}/result")
    assert got.status_code == 409, got.text
    assert got.json()["error"] == "conflict", got.text
