"""Issue 27 item 1: the three flows that failed when the Python SDK ran them, unmodified.

- An app's second launch: `configure()` registers its persisted installation id again on
  every launch (octomil/configure.py `_do_register`, `raise_for_status`).
- A bootstrapped device registers through `OctomilControl.register` with its access token
  as the token provider (octomil/auth.py, octomil/control.py 114-132).
- A publishable-key client's `control.refresh()` (octomil/control.py 87-112) is refused,
  saying why and what to use instead (docs/api.md, "Registering again").
"""

import asyncio
import importlib
import uuid

import pytest
import requests

from octomil.auth import DeviceAuthClient
from octomil.control import OctomilControl
from octomil.python.octomil.api_client import _ApiClient

from conftest import api_url, wait_for


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def configure_once(devreg):
    """One app launch: `configure()` with the publishable key, no heartbeats; waits for
    its background registration and returns the DeviceContext."""
    from octomil.auth_config import PublishableKeyAuth
    from octomil.device_context import RegistrationState
    from octomil.monitoring_config import MonitoringConfig

    configure_module = importlib.import_module("octomil.configure")
    ctx = configure_module.configure(
        auth=PublishableKeyAuth(key=devreg["publishable_key"]),
        monitoring=MonitoringConfig(enabled=False),
        base_url=api_url(devreg),
    )
    state = wait_for(
        lambda: ctx.registration_state != RegistrationState.PENDING and ctx.registration_state,
        timeout=40,
        what="configure() registration",
    )
    assert state == RegistrationState.REGISTERED
    return ctx


def events_of(devreg, device_id, kind):
    res = requests.get(
        f"{devreg['url']}/api/v1/events",
        headers=bearer(devreg["secret_key"]),
        params={"org_id": devreg["org_id"], "device_id": device_id, "type": kind},
    )
    assert res.status_code == 200, res.text
    return res.json()["events"]


def test_second_launch_registers_the_same_device_again_with_a_new_key(devreg):
    url = devreg["url"]
    first = configure_once(devreg)
    second = configure_once(devreg)  # the same HOME: the persisted installation id

    assert second.installation_id == first.installation_id
    assert second.server_device_id == first.server_device_id
    assert second.org_id == devreg["org_id"]
    new_key, old_key = second.token_state.access_token, first.token_state.access_token
    assert new_key and old_key and new_key != old_key
    assert second.token_state.is_valid
    # The new key is the device's; the one the first launch held is revoked.
    beat = requests.post(
        f"{url}/api/v1/devices/{second.server_device_id}/heartbeat",
        headers=bearer(new_key),
        json={"sdk_version": "4.17.42", "platform": "python"},
    )
    assert beat.status_code == 200, beat.text
    old = requests.get(f"{url}/api/v1/devices/{first.server_device_id}", headers=bearer(old_key))
    assert old.status_code == 401, old.text
    # One device, registered once and registered again once.
    assert len(events_of(devreg, first.server_device_id, "device.registered")) == 1
    again = events_of(devreg, first.server_device_id, "device.reregistered")
    assert len(again) == 1
    assert again[0]["data"]["proof"] == "installation_id"
    assert again[0]["data"]["revoked_keys"] == 1


def test_another_installation_claiming_the_identifier_is_still_409(devreg):
    url = devreg["url"]
    ctx = configure_once(devreg)
    claim = requests.post(
        f"{url}/api/v1/devices/register",
        headers=bearer(devreg["publishable_key"]),
        json={
            "device_identifier": ctx.installation_id,
            "installation_id": str(uuid.uuid4()),
            "platform": "python",
        },
    )
    assert claim.status_code == 409, claim.text
    assert claim.json()["error"] == "conflict"
    no_installation = requests.post(
        f"{url}/api/v1/devices/register",
        headers=bearer(devreg["publishable_key"]),
        json={"device_identifier": ctx.installation_id, "platform": "python"},
    )
    assert no_installation.status_code == 409, no_installation.text
    # The secret key keeps the reference's 409, even with the right installation id.
    secret = requests.post(
        f"{url}/api/v1/devices/register",
        headers=bearer(devreg["secret_key"]),
        json={"device_identifier": ctx.installation_id, "installation_id": ctx.installation_id},
    )
    assert secret.status_code == 409, secret.text
    # Nothing changed: the launch's key still works, and no re-registration was recorded.
    got = requests.get(
        f"{url}/api/v1/devices/{ctx.server_device_id}", headers=bearer(ctx.token_state.access_token)
    )
    assert got.status_code == 200, got.text
    assert events_of(devreg, ctx.server_device_id, "device.reregistered") == []


def mint_bootstrap_token(devreg):
    res = requests.post(
        f"{devreg['url']}/api/v1/device-auth/bootstrap-tokens",
        headers=bearer(devreg["secret_key"]),
        json={},
    )
    assert res.status_code == 201, res.text
    return res.json()["token"]


def test_bootstrapped_device_registers_through_control_with_its_access_token(devreg):
    identifier = f"sdk-boot-{uuid.uuid4().hex[:8]}"
    auth = DeviceAuthClient(base_url=devreg["url"], org_id=devreg["org_id"], device_identifier=identifier)
    asyncio.run(auth.bootstrap(bootstrap_bearer_token=mint_bootstrap_token(devreg)))
    api = _ApiClient(auth_token_provider=auth.get_access_token_sync, api_base=api_url(devreg))
    control = OctomilControl(api=api, org_id=devreg["org_id"])

    registration = control.register(device_id=identifier)

    device = requests.get(f"{devreg['url']}/api/v1/devices/{identifier}", headers=bearer(devreg["secret_key"]))
    assert device.status_code == 200, device.text
    assert registration.id == device.json()["id"]
    assert registration.status == "active"
    # The access token keeps working: the control loop goes on with it.
    assert control.heartbeat().status == "active"
    again = events_of(devreg, registration.id, "device.reregistered")
    assert [e["data"]["proof"] for e in again] == ["own_credential"]
    # Its token registers only its own device.
    with pytest.raises(Exception) as err:
        control.register(device_id=f"sdk-other-{uuid.uuid4().hex[:8]}")
    assert "forbidden" in str(err.value)


def test_publishable_key_refresh_is_refused_saying_which_credential_to_use(devreg):
    from octomil.auth import PublishableKeyAuth
    from octomil.client import OctomilClient

    client = OctomilClient(auth=PublishableKeyAuth(api_key=devreg["publishable_key"], api_base=api_url(devreg)))
    identifier = f"sdk-pub-{uuid.uuid4().hex[:8]}"
    registration = client.control.register(device_id=identifier)
    assert registration.id

    with pytest.raises(Exception) as err:
        client.control.refresh()
    message = str(err.value)
    assert "forbidden" in message
    assert "publishable key" in message and "access_token" in message

    # What it says to use works: the device's own credential from a register answer,
    # with which control.register() answers the same device and refresh() is served.
    own_identifier = f"sdk-pub-{uuid.uuid4().hex[:8]}"
    answer = requests.post(
        f"{devreg['url']}/api/v1/devices/register",
        headers=bearer(devreg["publishable_key"]),
        json={"device_identifier": own_identifier, "platform": "python"},
    )
    assert answer.status_code == 201, answer.text
    own = answer.json()
    api = _ApiClient(auth_token_provider=lambda: own["access_token"], api_base=api_url(devreg))
    control = OctomilControl(api=api, org_id=devreg["org_id"])
    assert control.register(device_id=own_identifier).id == own["id"]
    result = control.refresh()
    assert result.config_version != ""
