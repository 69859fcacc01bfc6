"""Issue 27: the Python SDK's device-side calls the other files left untested, through the
SDK unmodified: `ExperimentsAPI.cancel` (octomil/python/octomil/control_plane.py 302-303)
and `FederatedClient.pull_model` (octomil/python/octomil/federated_client.py 366-381:
`GET /models/{id}/versions/latest` when no version is given, then `GET
/models/{id}/versions/{version}/download?format=` read as bytes by `_ApiClient.get_bytes`,
api_client.py 202-210)).
"""

import hashlib
import os

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

