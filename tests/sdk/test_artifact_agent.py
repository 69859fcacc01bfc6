"""Issue 26: the Python device agent (octomil/device_agent, SDK 4.17.42 unmodified)
downloads a hosted version from devreg through its chunk route and verifies it.

The agent's artifact loop polls desired state through its server client, registers the
artifact with the desired entry's `manifest` (OctomilControl.get_desired_state flattens
`artifactManifest`, control.py 214-231), then fetches each 8 MiB chunk from
`{base_url}/artifacts/{artifactId}/chunks/{path}/{n}` with `Range` and no Authorization
(loops/artifact_loop.py 432-446, artifact_downloader.py 96-113), assembles the file and
checks its SHA-256 against `files[].sha256` (artifact_verifier.py verify_artifact).

The server client is the duck-typed one DeviceAgent documents (`get_desired_state()` and
`base_url`), around the SDK's own OctomilControl: OctomilControl's `base_url` reads
`_ApiClient.base_url`, which is named `api_base` (control.py 240-243), so the agent given
`control=` alone builds URLs without a host. The file is under 8 MiB because the agent
checks every chunk against the whole file's digest (artifact_downloader.py 113): only a
one-chunk file can verify through it.
"""

import hashlib
import os
import uuid

from octomil.control import OctomilControl
from octomil.device_agent.device_agent import DeviceAgent
from octomil.python.octomil.api_client import _ApiClient
from octomil.python.octomil.registry import ModelRegistry

from conftest import api_url, wait_for


class ControlServerClient:
    """DeviceAgent's `server_client`: desired state from OctomilControl, and the base URL
    the agent puts before `/artifacts/...`."""

    def __init__(self, control, base_url):
        self._control = control
        self.base_url = base_url

    def get_desired_state(self, installed_models=None, active_versions=None):
        return self._control.get_desired_state(
            installed_models=installed_models, active_versions=active_versions
        )


def test_the_device_agent_downloads_a_hosted_version_by_chunks_and_verifies_it(
    devreg, admin, tmp_path
):
    data = os.urandom(5 * 1024 * 1024 + 123)
    path = tmp_path / "kbd.onnx"
    path.write_bytes(data)
    registry = ModelRegistry(
        auth_token_provider=lambda: devreg["secret_key"],
        org_id=devreg["org_id"],
        api_base=api_url(devreg),
    )
    published = registry.upload_version_from_path("kbd-agent", str(path), "1.0.0")
    api = _ApiClient(auth_token_provider=lambda: devreg["secret_key"], api_base=api_url(devreg))
    control = OctomilControl(api=api, org_id=devreg["org_id"])
    reg = control.register(device_id=f"sdk-agent-{uuid.uuid4().hex[:8]}")
    res = admin.post(
        f"{devreg['url']}/api/v1/deployments",
        json={"model_id": "kbd-agent", "version": "1.0.0", "target": {"devices": [reg.id]}},
    )
    assert res.status_code == 201, res.text
    before = admin.get(f"{devreg['url']}/metrics").text

    agent = DeviceAgent(
        db_path=str(tmp_path / "agent.db"),
        models_dir=str(tmp_path / "models"),
        device_id=reg.id,
        server_client=ControlServerClient(control, api_url(devreg)),
    )
    agent.update_device_state(network_type="wifi", battery_pct=90, is_charging=True)
    agent.start()
    try:
        artifact = wait_for(
            lambda: (
                (a := agent._model_registry.get_artifact(published["artifact_id"]))
                and a["status"] in ("STAGED", "ACTIVE")
                and a
            ),
            timeout=60,
            what="the agent staging the hosted version",
        )
    finally:
        agent.stop()

    assert artifact["model_id"] == "kbd-agent" and artifact["version"] == "1.0.0"
    downloaded = tmp_path / "models" / "kbd-agent" / "1.0.0" / "kbd.onnx"
    assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    served = [
        line
        for line in admin.get(f"{devreg['url']}/metrics").text.splitlines()
        if line.startswith("devreg_artifact_bytes_served_total ")
    ]
    old = [line for line in before.splitlines() if line.startswith("devreg_artifact_bytes_served_total ")]
    assert int(served[0].split()[1]) - int(old[0].split()[1]) == len(data)
