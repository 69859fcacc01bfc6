"""docs/models.md's walkthrough (examples/models/walkthrough.sh), run as written against
devreg: publish with curl, deploy, register a device, download its desired version by the
signed URL with a Range resume, and check the digest."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_models_walkthrough_publishes_deploys_and_downloads(devreg, tmp_path):
    env = dict(os.environ, DEVREG=devreg["url"], SECRET=devreg["secret_key"])
    run = subprocess.run(
        ["bash", str(ROOT / "examples" / "models" / "walkthrough.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "downloaded.onnx: OK" in run.stdout
    assert (tmp_path / "downloaded.onnx").read_bytes() == (tmp_path / "model.onnx").read_bytes()
