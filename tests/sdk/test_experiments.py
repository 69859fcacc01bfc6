"""Issue 27 item 2: experiments through the Python SDK's `ExperimentsAPI`, unmodified
(octomil/python/octomil/control_plane.py 188-376), against assignment computed here
independently with hashlib (the iOS rule: SHA-256 of "expId:deviceId", first four bytes
big-endian, modulo 100, cumulative shares), and a variant's version reaching the device
through sync (`OctomilControl.sync`).
"""

import hashlib
import uuid

import pytest
import requests

from octomil.control import OctomilControl
from octomil.python.octomil.api_client import _ApiClient
from octomil.python.octomil.control_plane import ExperimentsAPI

from conftest import api_url, register_device

MODEL_ID = "kbd-ab"


def bucket(experiment_id, device_id):
    digest = hashlib.sha256(f"{experiment_id}:{device_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def expected_variant(experiment_id, device_id, shares):
    """shares: [(name, percent)] in the experiment's order."""
    point, cumulative = bucket(experiment_id, device_id), 0
    for name, share in shares:
        cumulative += share
        if point < cumulative:
            return name
    return None


def add_versions(devreg, admin, *versions):
    url = devreg["url"]
    res = admin.post(f"{url}/api/v1/models", json={"model_id": MODEL_ID, "name": "Keyboard A/B"})
    assert res.status_code in (200, 201), res.text
    for version in versions:
        res = admin.post(
            f"{url}/api/v1/models/{MODEL_ID}/versions",
            json={
                "version": version,
                "format": "onnx",
                "total_bytes": 4096,
                "sha256": "cd" * 32,
                "download_url": f"{url}/files/{MODEL_ID}/{version}/model.onnx",
            },
        )
        assert res.status_code == 201, res.text


def experiments_api(devreg):
    api = _ApiClient(auth_token_provider=lambda: devreg["secret_key"], api_base=api_url(devreg))
    return ExperimentsAPI(api, org_id=devreg["org_id"])


def synced_version(devreg, device):
    api = _ApiClient(auth_token_provider=lambda: device["api_key"], api_base=api_url(devreg))
    control = OctomilControl(api=api, org_id=devreg["org_id"])
    models = control.sync(device_id=device["id"])["models"]
    return {m["modelId"]: m["desiredVersion"] for m in models}.get(MODEL_ID)


def test_create_start_assign_sync_report_results_and_lifecycle(devreg, admin):
    url = devreg["url"]
    add_versions(devreg, admin, "1.0.0", "2.0.0")
    devices = [register_device(devreg, f"ab-{i}-{uuid.uuid4().hex[:6]}") for i in range(12)]
    # Every device runs 1.0.0 by deployment; the experiment overrides it while active.
    res = admin.post(f"{url}/api/v1/deployments", json={"model_id": MODEL_ID, "version": "1.0.0", "target": {}})
    assert res.status_code == 201, res.text
    experiments = experiments_api(devreg)

    created = experiments.create(
        name="kbd v2 vs v1",
        model_id=MODEL_ID,
        control_version="1.0.0",
        treatment_version="2.0.0",
        primary_metric="accuracy",
    )
    exp_id = created["id"]
    assert created["status"] == "draft"
    assert [(v["name"], v["model_version"], v["traffic_percentage"]) for v in created["variants"]] == [
        ("control", "1.0.0", 50),
        ("treatment", "2.0.0", 50),
    ]
    assert [e["id"] for e in experiments.list()] == [exp_id]
    assert experiments.list(status_filter="running") == []
    assert experiments.get_variant(exp_id, devices[0]["id"]) is None  # a draft assigns nobody
    assert synced_version(devreg, devices[0]) == "1.0.0"

    assert experiments.start(exp_id)["status"] == "active"
    assert [e["id"] for e in experiments.list(model_id=MODEL_ID, status_filter="running")] == [exp_id]

    shares = [("control", 50), ("treatment", 50)]
    version_of = {"control": "1.0.0", "treatment": "2.0.0"}
    assigned = {}
    for device in devices:
        want = expected_variant(exp_id, device["id"], shares)
        got = experiments.get_variant(exp_id, device["id"])
        assert got["name"] == want, device["id"]
        assert got["model_version"] == version_of[want]
        assert got["bucket"] == bucket(exp_id, device["id"])
        # The identifier names the same device, and the bucket hashes its UUID.
        assert experiments.get_variant(exp_id, device["device_identifier"])["name"] == want
        # The variant's version is what the device syncs.
        assert synced_version(devreg, device) == version_of[want]
        assigned[device["id"]] = want
    resolved = experiments.resolve_model_experiment(MODEL_ID, devices[0]["id"])
    assert resolved["experiment"]["id"] == exp_id
    assert resolved["variant"]["name"] == assigned[devices[0]["id"]]

    # Reports: iOS-shaped events with each device's own key; results per variant.
    values = {}
    for i, device in enumerate(devices):
        value = 0.5 + i / 100
        res = requests.post(
            f"{url}/api/v1/experiments/{exp_id}/events",
            headers={"Authorization": f"Bearer {device['api_key']}"},
            json={
                "name": "accuracy",
                "properties": {"metric_name": "accuracy", "metric_value": str(value), "device_id": ""},
                "timestamp": "2026-12-07T12:00:00Z",
            },
        )
        assert res.status_code == 200, res.text
        assert res.json()["variant_id"] == assigned[device["id"]]
        values.setdefault(assigned[device["id"]], []).append(value)
    results = experiments.get_analytics(exp_id)
    by_variant = {v["variant_id"]: v for v in results["variants"]}
    for name, reported in values.items():
        assert by_variant[name]["devices"] == len(reported)
        assert by_variant[name]["events"] == len(reported)
        assert by_variant[name]["assigned_devices"] == len(reported)
        assert by_variant[name]["metrics"]["accuracy"]["count"] == len(reported)
        assert by_variant[name]["metrics"]["accuracy"]["mean"] == pytest.approx(sum(reported) / len(reported))

    # Pausing takes the variants out of the desired state; resuming brings the same back.
    assert experiments.pause(exp_id)["status"] == "paused"
    assert {synced_version(devreg, d) for d in devices} == {"1.0.0"}
    assert experiments.resume(exp_id)["status"] == "active"
    assert [synced_version(devreg, d) for d in devices] == [version_of[assigned[d["id"]]] for d in devices]
    assert experiments.complete(exp_id)["status"] == "completed"
    with pytest.raises(Exception) as err:
        experiments.start(exp_id)
    assert "conflict" in str(err.value)


def test_devices_outside_the_shares_are_not_enrolled_and_keep_their_deployment(devreg, admin):
    add_versions(devreg, admin, "1.0.0", "2.0.0")
    experiments = experiments_api(devreg)
    created = experiments.create(
        name="small",
        model_id=MODEL_ID,
        control_version="1.0.0",
        treatment_version="2.0.0",
        control_allocation=10.0,
        treatment_allocation=10.0,
    )
    exp_id = created["id"]
    experiments.start(exp_id)
    outside = None
    while outside is None:
        device = register_device(devreg, f"small-{uuid.uuid4().hex[:8]}")
        if bucket(exp_id, device["id"]) >= 20:
            outside = device
    assert experiments.get_variant(exp_id, outside["id"]) is None
    assert experiments.is_enrolled(exp_id, outside["id"]) is False
    assert synced_version(devreg, outside) is None  # no deployment, no variant


def test_create_refuses_fractional_shares_and_unknown_versions(devreg, admin):
    add_versions(devreg, admin, "1.0.0")
    experiments = experiments_api(devreg)
    with pytest.raises(Exception) as err:
        experiments.create(
            name="bad", model_id=MODEL_ID, control_version="1.0.0", treatment_version="1.0.0",
            control_allocation=50.5, treatment_allocation=49.5,
        )
    assert "whole number" in str(err.value)
    with pytest.raises(Exception) as err:
        experiments.create(name="bad", model_id=MODEL_ID, control_version="1.0.0", treatment_version="9.9.9")
    assert "not_found" in str(err.value)
    assert experiments.list() == []
