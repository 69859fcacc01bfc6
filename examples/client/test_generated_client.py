"""The Python client that docs/api.md's commands (examples/client/generate.sh) generate from
devreg's OpenAPI document, used against a live devreg: register, heartbeat, retrieve, list,
and an error. CI generates the client, installs it, and runs this with DEVREG_BIN pointing
at the built binary."""

import json
import os
import subprocess

import pytest
from devreg_devices_api_client import AuthenticatedClient
from devreg_devices_api_client.api.devices import (
    get_device,
    list_devices,
    record_heartbeat,
    register_device,
)
from devreg_devices_api_client.models import (
    DeviceStatus,
    ErrorBody,
    HeartbeatRequest,
    JsonObject,
    RegisterRequest,
)

DEVREG = os.environ.get("DEVREG_BIN", "devreg")


@pytest.fixture(scope="module")
def devreg():
    proc = subprocess.Popen(
        [DEVREG, "serve", "--ephemeral", "--exit-on-stdin-close"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield json.loads(proc.stdout.readline())
    proc.stdin.close()
    proc.wait(timeout=10)


def test_a_device_registers_heartbeats_and_is_listed(devreg):
    app = AuthenticatedClient(base_url=devreg["url"], token=devreg["publishable_key"])
    device = register_device.sync(
        client=app,
        body=RegisterRequest(device_identifier="client-001", platform="android"),
    )
    assert device.device_id == "client-001"

    as_device = AuthenticatedClient(base_url=devreg["url"], token=device.api_key)
    metrics = JsonObject.from_dict({"battery_pct": 80})
    ack = record_heartbeat.sync(
        client=as_device,
        device_id=str(device.id),
        body=HeartbeatRequest(status=DeviceStatus.ACTIVE, metrics=metrics),
    )
    assert ack.acknowledged is True
    assert ack.pending_round_id is None

    admin = AuthenticatedClient(base_url=devreg["url"], token=devreg["secret_key"])
    detail = get_device.sync(client=admin, device_id="client-001")
    assert detail.metrics.to_dict() == {"battery_pct": 80}
    listed = list_devices.sync(client=admin, org_id=devreg["org_id"], limit=10)
    assert [d.device_identifier for d in listed.devices] == ["client-001"]
    assert listed.limit == 10


def test_errors_arrive_as_the_error_body(devreg):
    admin = AuthenticatedClient(base_url=devreg["url"], token=devreg["secret_key"])
    reply = get_device.sync_detailed(client=admin, device_id="no-such-device")
    assert reply.status_code == 404
    assert isinstance(reply.parsed, ErrorBody)
    assert reply.parsed.error == "not_found"
