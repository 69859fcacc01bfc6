"""Issue 15: the Python SDK's whole device loop against devreg, SDK unmodified.

`OctomilControl` is built exactly as `octomil.client.OctomilClient` builds it
(client.py: `_ApiClient(auth_token_provider, api_base)` and `OctomilControl(api, org_id)`),
with the org's secret key (`OrgApiKeyAuth`): the SDK sends the key it was given on every
control call and never switches to the device key from the register answer.
"""

import importlib
import uuid

import pytest
import requests

from octomil.control import OctomilControl
from octomil.python.octomil.api_client import _ApiClient

from conftest import api_url, register_device, wait_for

MODEL_ID = "kbd-next-word"
VERSION = "1.0.0"


def make_control(devreg, key):
    api = _ApiClient(auth_token_provider=lambda: key, api_base=api_url(devreg))
    return OctomilControl(api=api, org_id=devreg["org_id"])


def create_model_version(devreg, admin, version=VERSION):
    url = devreg["url"]
    res = admin.post(f"{url}/api/v1/models", json={"model_id": MODEL_ID, "name": "Keyboard"})
    assert res.status_code in (200, 201), res.text
    res = admin.post(
        f"{url}/api/v1/models/{MODEL_ID}/versions",
        json={
            "version": version,
            "format": "onnx",
            "total_bytes": 4096,
            "sha256": "ab" * 32,
            "download_url": f"{url}/artifacts/{MODEL_ID}/{version}/model.onnx",
            "files": [{"path": "model.onnx", "size": 4096, "sha256": "ab" * 32}],
        },
    )
    assert res.status_code == 201, res.text


def deploy(devreg, admin, devices):
    res = admin.post(
        f"{devreg['url']}/api/v1/deployments",
        json={"model_id": MODEL_ID, "version": VERSION, "target": {"devices": devices}},
    )
    assert res.status_code == 201, res.text
    return res.json()["id"]


def rollout(devreg, admin, deployment_id):
    res = admin.get(f"{devreg['url']}/api/v1/deployments/{deployment_id}")
    assert res.status_code == 200, res.text
    return res.json()


def test_control_register_heartbeat_refresh_sync_desired_observed(devreg, admin):
    url = devreg["url"]
    create_model_version(devreg, admin)
    identifier = f"sdk-loop-{uuid.uuid4().hex[:8]}"
    control = make_control(devreg, devreg["secret_key"])

    # register(): POST /devices/register with device_identifier, org_id, sdk_version, ...
    reg = control.register(device_id=identifier)
    assert reg.device_identifier == identifier
    uuid.UUID(reg.id)  # the server's id, which the SDK puts in every later path
    assert reg.status == "active"
    device = admin.get(f"{url}/api/v1/devices/{reg.id}")
    assert device.status_code == 200, device.text
    assert device.json()["device_identifier"] == identifier
    assert device.json()["metadata"]["sdk_version"] == "4.17.42"

    # heartbeat(): POST /devices/{id}/heartbeat, battery/network in `metadata`
    beat = control.heartbeat()
    assert beat.status == "active"
    assert isinstance(beat.server_time, str) and beat.server_time.endswith("Z")
    device = admin.get(f"{url}/api/v1/devices/{reg.id}").json()
    assert device["last_heartbeat"] is not None
    assert "network_type" in (device["metrics"] or {})

    # Deploy to this device only (by identifier), after it registered.
    deployment_id = deploy(devreg, admin, [identifier])
    counts = rollout(devreg, admin, deployment_id)
    assert (counts["targeted"], counts["synced"], counts["active"], counts["failed"]) == (1, 0, 0, 0)

    # refresh(): GET /devices/{id}/assignments
    refreshed = control.refresh()
    assert isinstance(refreshed.updated, bool)
    assert isinstance(refreshed.config_version, str)

    # sync(): POST /devices/{id}/sync (camelCase body); the answer carries the deployment
    synced = control.sync()
    assert synced["stateChanged"] is True
    assert isinstance(synced["nextPollIntervalSeconds"], int)
    assert isinstance(synced["gcEligibleArtifactIds"], list)
    [entry] = [m for m in synced["models"] if m["modelId"] == MODEL_ID]
    assert entry["desiredVersion"] == VERSION
    assert entry["deploymentId"] == deployment_id
    assert entry["artifactManifest"]["totalBytes"] == 4096

    # get_desired_state(): sync() flattened; KeyErrors here if modelId/desiredVersion absent
    desired = control.get_desired_state()
    [mine] = [d for d in desired if d["model_id"] == MODEL_ID]
    assert mine["version"] == VERSION
    assert mine["deployment_id"] == deployment_id
    assert mine["total_bytes"] == 4096
    assert mine["artifact_id"]  # artifactManifest.artifactId, the agent's download key
    assert rollout(devreg, admin, deployment_id)["synced"] == 1

    # sync() with the current desired_state_version: nothing changed
    state = admin.get(f"{url}/api/v1/devices/{reg.id}/desired-state")
    assert state.status_code == 200, state.text
    version = state.json()["desired_state_version"]
    assert isinstance(version, int)
    again = control.sync(known_state_version=str(version))
    assert again["stateChanged"] is False

    # report_observed_state() in the device agent's own shape (artifact_loop.py)
    ack = control.report_observed_state(
        models=[
            {
                "modelId": MODEL_ID,
                "status": "ACTIVE",
                "installedVersion": VERSION,
                "activeVersion": VERSION,
            }
        ]
    )
    assert isinstance(ack, dict)
    counts = rollout(devreg, admin, deployment_id)
    assert (counts["targeted"], counts["synced"], counts["active"], counts["failed"]) == (1, 1, 1, 0)
    observed = admin.get(f"{url}/api/v1/devices/{reg.id}").json()["observed_state"]
    assert MODEL_ID in str(observed)


def test_failed_observed_state_counts_as_failed(devreg, admin):
    create_model_version(devreg, admin)
    control = make_control(devreg, devreg["secret_key"])
    reg = control.register(device_id=f"sdk-fail-{uuid.uuid4().hex[:8]}")
    deployment_id = deploy(devreg, admin, [reg.id])
    assert [d["version"] for d in control.get_desired_state()] == [VERSION]
    control.report_observed_state(
        models=[{"modelId": MODEL_ID, "status": "DOWNLOAD_FAILED", "installedVersion": None, "activeVersion": None}]
    )
    counts = rollout(devreg, admin, deployment_id)
    assert (counts["active"], counts["failed"]) == (0, 1)


def test_cancelled_deployment_leaves_desired_state(devreg, admin):
    create_model_version(devreg, admin)
    control = make_control(devreg, devreg["secret_key"])
    reg = control.register(device_id=f"sdk-cancel-{uuid.uuid4().hex[:8]}")
    deployment_id = deploy(devreg, admin, [reg.id])
    assert [d["model_id"] for d in control.get_desired_state()] == [MODEL_ID]
    res = admin.post(f"{devreg['url']}/api/v1/deployments/{deployment_id}/cancel")
    assert res.status_code in (200, 201), res.text
    assert control.get_desired_state() == []


def test_device_key_runs_its_own_loop_but_not_another_devices(devreg, admin):
    """With the device key from the register answer (what an app can persist)."""
    create_model_version(devreg, admin)
    mine = register_device(devreg, f"sdk-own-{uuid.uuid4().hex[:8]}")
    other = register_device(devreg, f"sdk-other-{uuid.uuid4().hex[:8]}")
    deploy(devreg, admin, [mine["id"]])
    control = make_control(devreg, mine["api_key"])
    synced = control.sync(device_id=mine["id"])
    assert [m["desiredVersion"] for m in synced["models"]] == [VERSION]
    with pytest.raises(Exception) as err:
        control.sync(device_id=other["id"])
    assert "not_found" in str(err.value)


def test_configure_with_publishable_key_registers_and_heartbeats(devreg, admin):
    """octomil.configure() end to end: background register, then background heartbeats
    authenticated with the register answer's access_token."""
    from octomil.auth_config import PublishableKeyAuth
    from octomil.device_context import RegistrationState
    from octomil.monitoring_config import MonitoringConfig

    configure_module = importlib.import_module("octomil.configure")
    ctx = configure_module.configure(
        auth=PublishableKeyAuth(key=devreg["publishable_key"]),
        monitoring=MonitoringConfig(enabled=True, heartbeat_interval_seconds=1),
        base_url=api_url(devreg),
    )
    try:
        state = wait_for(
            lambda: ctx.registration_state != RegistrationState.PENDING and ctx.registration_state,
            timeout=20,
            what="configure() registration",
        )
        assert state == RegistrationState.REGISTERED
        device = admin.get(f"{devreg['url']}/api/v1/devices/{ctx.installation_id}")
        assert device.status_code == 200, device.text
        assert ctx.server_device_id == device.json()["id"]
        assert ctx.org_id == devreg["org_id"]
        assert ctx.token_state.access_token
        assert ctx.token_state.is_valid  # expires_at absent or Unix seconds in the future
        wait_for(
            lambda: admin.get(f"{devreg['url']}/api/v1/devices/{ctx.server_device_id}").json()[
                "last_heartbeat"
            ],
            timeout=10,
            what="a background heartbeat",
        )
    finally:
        configure_module._heartbeat_stop.set()
