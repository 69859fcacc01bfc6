"""Issue 16: device tokens with the Python SDK's `DeviceAuthClient`, unmodified.

DeviceAuthClient's base_url is the host: it appends /api/v1/device-auth/... itself
(octomil/auth.py). Tokens live in the keyring (an in-memory backend, see conftest.py).
"""

import asyncio
import uuid
from datetime import datetime, timezone

import httpx
import keyring
import pytest
import requests

from octomil.auth import DeviceAuthClient

from conftest import api_url


def mint_bootstrap_token(devreg, **body):
    res = requests.post(
        f"{devreg['url']}/api/v1/device-auth/bootstrap-tokens",
        headers={"Authorization": f"Bearer {devreg['secret_key']}"},
        json=body,
    )
    assert res.status_code == 201, res.text
    minted = res.json()
    assert minted["org_id"] == devreg["org_id"]
    assert minted["max_uses"] == body.get("max_uses", 1)
    return minted["token"]


def new_client(devreg, identifier=None):
    return DeviceAuthClient(
        base_url=devreg["url"],
        org_id=devreg["org_id"],
        device_identifier=identifier or f"sdk-auth-{uuid.uuid4().hex[:8]}",
    )


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def device_id_of(devreg, identifier):
    res = requests.get(
        f"{devreg['url']}/api/v1/devices/{identifier}", headers=bearer(devreg["secret_key"])
    )
    assert res.status_code == 200, res.text
    return res.json()["id"]


def test_bootstrap_call_refresh_revoke(devreg):
    url = devreg["url"]
    client = new_client(devreg)
    token = mint_bootstrap_token(devreg, ttl_seconds=600)

    state = asyncio.run(client.bootstrap(bootstrap_bearer_token=token))
    assert state.org_id == devreg["org_id"]
    assert state.device_identifier == client.device_identifier
    assert state.access_token and state.refresh_token and state.access_token != state.refresh_token
    assert state.expires_at.tzinfo is not None and state.expires_at > datetime.now(timezone.utc)
    assert keyring.get_password("octomil", f"{devreg['org_id']}:{client.device_identifier}")

    # Bootstrap registered the device; its access token works where its key works.
    device_id = device_id_of(devreg, client.device_identifier)
    got = requests.get(f"{url}/api/v1/devices/{device_id}", headers=bearer(state.access_token))
    assert got.status_code == 200, got.text
    assert got.json()["device_identifier"] == client.device_identifier
    beat = requests.put(
        f"{url}/api/v1/devices/{device_id}/heartbeat",
        headers=bearer(client.get_access_token_sync()),
        json={"status": "active"},
    )
    assert beat.status_code == 200, beat.text
    # ... and through the SDK's own API client
    from octomil.python.octomil.api_client import _ApiClient

    api = _ApiClient(auth_token_provider=client.get_access_token_sync, api_base=api_url(devreg))
    assert api.post(f"/devices/{device_id}/heartbeat", {"sdk_version": "4.17.42"})["status"] == "active"

    # A bootstrap token is single-use by default.
    with pytest.raises(httpx.HTTPStatusError) as err:
        asyncio.run(new_client(devreg).bootstrap(bootstrap_bearer_token=token))
    assert err.value.response.status_code == 401

    # refresh(): rotates the refresh token; the new access token works.
    refreshed = asyncio.run(client.refresh())
    assert refreshed.refresh_token != state.refresh_token
    assert refreshed.access_token != state.access_token
    assert refreshed.device_identifier == client.device_identifier
    got = requests.get(f"{url}/api/v1/devices/{device_id}", headers=bearer(refreshed.access_token))
    assert got.status_code == 200, got.text

    # revoke(): 200 or 204; the keyring entry is gone and the refresh token is dead.
    asyncio.run(client.revoke())
    assert keyring.get_password("octomil", f"{devreg['org_id']}:{client.device_identifier}") is None
    res = requests.post(f"{url}/api/v1/device-auth/refresh", json={"refresh_token": refreshed.refresh_token})
    assert res.status_code == 401, res.text
    assert res.json()["error"] == "unauthorized"


def test_reused_refresh_token_revokes_the_family(devreg):
    url = devreg["url"]
    client = new_client(devreg)
    first = asyncio.run(client.bootstrap(bootstrap_bearer_token=mint_bootstrap_token(devreg)))
    second = asyncio.run(client.refresh())
    # Past the grace in which a retried refresh (its answer lost) is served once.
    res = requests.post(f"{url}/_devreg/clock", json={"advance_seconds": 61})
    assert res.status_code == 200, res.text
    reuse = requests.post(f"{url}/api/v1/device-auth/refresh", json={"refresh_token": first.refresh_token})
    assert reuse.status_code == 401, reuse.text
    # The whole family is revoked: the SDK's own, newer refresh token is dead too.
    with pytest.raises(httpx.HTTPStatusError) as err:
        asyncio.run(client.refresh())
    assert err.value.response.status_code == 401
    assert second.refresh_token


def test_expired_access_token_is_401_saying_expired(devreg):
    url = devreg["url"]
    client = new_client(devreg)
    state = asyncio.run(
        client.bootstrap(bootstrap_bearer_token=mint_bootstrap_token(devreg), access_ttl_seconds=60)
    )
    device_id = device_id_of(devreg, client.device_identifier)
    res = requests.post(f"{url}/_devreg/clock", json={"advance_seconds": 3601})
    assert res.status_code == 200, res.text
    got = requests.get(f"{url}/api/v1/devices/{device_id}", headers=bearer(state.access_token))
    assert got.status_code == 401, got.text
    assert "expired" in got.json()["message"].lower()
    # The refresh token outlives the access token: the SDK gets a working one back.
    refreshed = asyncio.run(client.refresh())
    got = requests.get(f"{url}/api/v1/devices/{device_id}", headers=bearer(refreshed.access_token))
    assert got.status_code == 200, got.text


def test_bootstrap_token_expires(devreg):
    token = mint_bootstrap_token(devreg, ttl_seconds=60)
    res = requests.post(f"{devreg['url']}/_devreg/clock", json={"advance_seconds": 61})
    assert res.status_code == 200, res.text
    with pytest.raises(httpx.HTTPStatusError) as err:
        asyncio.run(new_client(devreg).bootstrap(bootstrap_bearer_token=token))
    assert err.value.response.status_code == 401
