"""Fixtures for running the official Python SDK (octomil==4.17.42, unmodified) against a
throwaway devreg.

Before the SDK is imported anywhere:
- HOME and the SDK's cache dir point at a temporary directory (the SDK writes
  ~/.octomil/installation_id and ~/.octomil/install_id);
- OCTOMIL_API_BASE points at a closed local port, because `import octomil` tries to
  fetch a model catalogue from it (default https://api.octomil.com/api/v1);
- every socket connection to anything but the loopback interface is refused, so a test
  fails loudly instead of talking to the hosted service;
- keyring uses an in-memory backend (DeviceAuthClient stores its tokens there).
"""

import json
import os
import socket
import subprocess
import tempfile
import time
import uuid

_HOME = tempfile.mkdtemp(prefix="devreg-sdk-home-")
os.environ["HOME"] = _HOME
os.environ["OCTOMIL_CACHE_DIR"] = os.path.join(_HOME, "cache")
os.environ["OCTOMIL_API_BASE"] = "http://127.0.0.1:9/api/v1"
os.environ.pop("OCTOMIL_API_KEY", None)
os.environ.pop("OCTOMIL_SERVER_KEY", None)

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(address):
    if isinstance(address, tuple) and address and address[0] not in _LOOPBACK:
        raise ConnectionRefusedError(f"tests/sdk: blocked a connection to {address!r}")


def _guarded_connect(self, address):
    _check_address(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check_address(address)
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex

import keyring  # noqa: E402
from keyring.backend import KeyringBackend  # noqa: E402
from keyring.errors import PasswordDeleteError  # noqa: E402


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps passwords in a dict, for tests."""

    priority = 1

    def __init__(self):
        super().__init__()
        self._store = {}

    def get_password(self, service, username):
        return self._store.get((service, username))

    def set_password(self, service, username, password):
        self._store[(service, username)] = password

    def delete_password(self, service, username):
        if self._store.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


keyring.set_keyring(MemoryKeyring())

import pytest  # noqa: E402
import requests  # noqa: E402

DEVREG = os.environ.get("DEVREG_BIN", "devreg")


@pytest.fixture(scope="session")
def devreg_server():
    """One throwaway devreg for the whole session: in memory, on a free port; its
    artifacts in a temporary directory, or under a fresh prefix of DEVREG_TEST_ARTIFACTS
    (s3://BUCKET/PREFIX, with the AWS_* variables set) so CI runs the model tests on S3."""
    command = [DEVREG, "serve", "--ephemeral", "--bind", "127.0.0.1:0", "--exit-on-stdin-close"]
    bucket = os.environ.get("DEVREG_TEST_ARTIFACTS")
    if bucket:
        assert bucket.startswith("s3://"), f"DEVREG_TEST_ARTIFACTS is s3://BUCKET/PREFIX, got {bucket!r}"
        command += ["--artifacts", f"{bucket.rstrip('/')}/sdk-{uuid.uuid4().hex}"]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,  # if pytest dies, the pipe closes and devreg exits
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = json.loads(proc.stdout.readline())  # url, org_id, secret_key, publishable_key
    yield ready
    proc.stdin.close()
    proc.wait(timeout=10)


@pytest.fixture
def devreg(devreg_server):
    """Per test: the same server, emptied back to its seeded state afterwards."""
    yield devreg_server
    requests.post(f"{devreg_server['url']}/_devreg/reset").raise_for_status()


@pytest.fixture
def admin(devreg):
    """requests.Session with the org's secret key, for what an operator does over HTTP."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {devreg['secret_key']}"
    session.base = devreg["url"]
    return session


def api_url(devreg):
    """The SDKs' base URL (`https://api.octomil.com/api/v1`) with the host swapped."""
    return f"{devreg['url']}/api/v1"


def register_device(devreg, identifier, platform="python", **extra):
    """Registers a device over HTTP with the publishable key; returns the 201 body."""
    res = requests.post(
        f"{devreg['url']}/api/v1/devices/register",
        headers={"Authorization": f"Bearer {devreg['publishable_key']}"},
        json={"device_identifier": identifier, "platform": platform, **extra},
    )
    assert res.status_code == 201, res.text
    return res.json()


def wait_for(predicate, timeout=10.0, interval=0.1, what="condition"):
    """Polls predicate() until it returns a truthy value; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def telemetry_events(devreg, device_id, **params):
    """GET /api/v1/devices/{id}/telemetry with the secret key, every page, oldest first.

    Assumes `{"events": [...]}` items carrying `event_type` (the name of the contract's
    filter); see tests/sdk/README.md.
    """
    out, after = [], None
    while True:
        query = dict(params, limit=1000)
        if after is not None:
            query["after"] = after
        res = requests.get(
            f"{devreg['url']}/api/v1/devices/{device_id}/telemetry",
            headers={"Authorization": f"Bearer {devreg['secret_key']}"},
            params=query,
        )
        assert res.status_code == 200, res.text
        body = res.json()
        page = body["events"]
        out.extend(page)
        after = body.get("next_after") or body.get("next_cursor")
        if not page or after is None:
            return out
