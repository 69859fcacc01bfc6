"""Issue 27: the Python SDK's device-side calls the other files left untested, through the
SDK unmodified: `ExperimentsAPI.cancel` (octomil/python/octomil/control_plane.py 302-303)
and `FederatedClient.pull_model` (octomil/python/octomil/federated_client.py 366-381:
`GET /models/{id}/versions/latest` when no version is given, then `GET
/models/{id}/versions/{version}/download?format=` read as bytes by `_ApiClient.get_bytes`,
api_client.py 202-210), and `FederatedClient.train` (federated_client.py 250-352:
`register`, then `POST /training/weights` with base64 `weights_data` of the bytes it is
given, or of `np.save` of an array, `_serialize_weights` 828-850).
"""

import hashlib
import json
import os
import struct

import pytest
from octomil.python.octomil.federated_client import FederatedClient
from octomil.python.octomil.registry import ModelRegistry

from conftest import api_url, register_device
from test_experiments import MODEL_ID, add_versions, experiments_api, synced_version


def test_cancel_ends_an_experiment_and_its_devices_go_back_to_the_deployment(devreg, admin):
    url = devreg["url"]
    add_versions(devreg, admin, "1.0.0", "2.0.0")
    device = register_device(devreg, "cancel-1")
    res = admin.post(f"{url}/api/v1/deployments", json={"model_id": MODEL_ID, "version": "1.0.0", "target": {}})
    assert res.status_code == 201, res.text
    experiments = experiments_api(devreg)
    created = experiments.create(
        name="all on v2",
        model_id=MODEL_ID,
        control_version="2.0.0",
        treatment_version="2.0.0",
    )
    exp_id = created["id"]
    assert experiments.start(exp_id)["status"] == "active"
    assert synced_version(devreg, device) == "2.0.0"

    cancelled = experiments.cancel(exp_id)

    assert cancelled["id"] == exp_id
    assert cancelled["status"] == "cancelled"
    assert experiments.get(exp_id)["status"] == "cancelled"
    assert experiments.get_variant(exp_id, device["id"]) is None
    assert synced_version(devreg, device) == "1.0.0"
    # A cancelled experiment is over: it cannot be started or cancelled again.
    for step in (experiments.start, experiments.cancel):
        with pytest.raises(Exception) as err:
            step(exp_id)
        assert "conflict" in str(err.value)


def test_cancel_of_an_unknown_experiment_is_an_error_naming_it(devreg):
    with pytest.raises(Exception) as err:
        experiments_api(devreg).cancel("no-such-experiment")
    assert "no-such-experiment" in str(err.value)


def test_federated_client_pulls_a_published_versions_bytes(devreg, tmp_path):
    data = os.urandom(200_000)
    path = tmp_path / "kbd.onnx"
    path.write_bytes(data)
    registry = ModelRegistry(
        auth_token_provider=lambda: devreg["secret_key"],
        org_id=devreg["org_id"],
        api_base=api_url(devreg),
    )
    registry.upload_version_from_path("kbd-pull", str(path), "1.0.0")
    device = register_device(devreg, "pull-1")
    client = FederatedClient(
        auth_token_provider=lambda: device["api_key"],
        org_id=devreg["org_id"],
        api_base=api_url(devreg),
        device_identifier="pull-1",
    )

    named = client.pull_model("kbd-pull", version="1.0.0", format="onnx")
    latest = client.pull_model("kbd-pull")  # versions/latest, then format "pytorch"

    digest = hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(named).hexdigest() == digest
    assert hashlib.sha256(latest).hexdigest() == digest


def _npy_float32(values):
    """What `np.save` writes for a 1-D float32 array (format 1.0), without NumPy."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % len(values)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack(
        "<%df" % len(values), *values
    )


def test_federated_client_train_uploads_weights_into_the_models_round(devreg, admin):
    url = devreg["url"]
    res = admin.post(f"{url}/api/v1/models", json={"model_id": "kbd-fl", "name": "kbd-fl"})
    assert res.status_code == 201, res.text
    res = admin.post(
        f"{url}/api/v1/models/kbd-fl/versions",
        json={"version": "1.0.0", "format": "onnx", "total_bytes": 4096, "sha256": "ab" * 32,
              "download_url": "https://cdn.example.com/kbd-fl/1.0.0/model.onnx"},
    )
    assert res.status_code == 201, res.text
    res = admin.post(f"{url}/api/v1/training/rounds",
                     json={"model_id": "kbd-fl", "base_version": "1.0.0", "min_devices": 2, "clip_norm": 10.0})
    assert res.status_code == 201, res.text
    round_id = res.json()["id"]

    # Two devices: one hands train() the bytes of a JSON array, the other an .npy array.
    payloads = [(json.dumps([0.5, -0.25]).encode(), 1), (_npy_float32([1.0, 0.75]), 3)]
    for i, (weights, samples) in enumerate(payloads):
        client = FederatedClient(
            auth_token_provider=lambda: devreg["secret_key"],
            org_id=devreg["org_id"],
            api_base=api_url(devreg),
            device_identifier=f"fl-legacy-{i}",
        )
        results = client.train("kbd-fl", weights, version="1.0.0", sample_count=samples,
                               metrics={"loss": 0.3})
        assert len(results) == 1
        assert results[0]["round_id"] == round_id
        assert results[0]["sample_count"] == samples

    result = admin.get(f"{url}/api/v1/training/rounds/{round_id}/result")
    assert result.status_code == 200, result.text
    assert result.json()["participants"] == 2
    assert result.json()["aggregate"] == pytest.approx([(0.5 + 3 * 1.0) / 4, (-0.25 + 3 * 0.75) / 4])
