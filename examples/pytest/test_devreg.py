import json
import os
import subprocess

import pytest
import requests

DEVREG = os.environ.get("DEVREG_BIN", "devreg")


@pytest.fixture(scope="session")
def devreg_server():
    """One throwaway devreg for the whole session: in memory, on a free port."""
    proc = subprocess.Popen(
        [DEVREG, "serve", "--ephemeral", "--exit-on-stdin-close"],
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


def test_device_registers_and_heartbeats(devreg):
    url = devreg["url"]
    registered = requests.post(
        f"{url}/api/v1/devices/register",
        headers={"Authorization": f"Bearer {devreg['publishable_key']}"},
        json={"device_identifier": "pytest-device", "platform": "python"},
    )
    assert registered.status_code == 201
    device = registered.json()

    beat = requests.put(
        f"{url}/api/v1/devices/{device['id']}/heartbeat",
        headers={"Authorization": f"Bearer {device['api_key']}"},
        json={"status": "active", "metrics": {"battery_pct": 80}},
    )
    assert beat.status_code == 200
    assert beat.json()["acknowledged"] is True


def test_each_test_starts_from_an_empty_org(devreg):
    listed = requests.get(
        f"{devreg['url']}/api/v1/devices",
        params={"org_id": devreg["org_id"]},
        headers={"Authorization": f"Bearer {devreg['secret_key']}"},
    )
    assert listed.json()["total"] == 0
