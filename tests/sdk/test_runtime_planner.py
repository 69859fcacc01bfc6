"""Issue 27: the Python SDK's runtime planner and routing-policy clients, unmodified.

- `octomil.runtime.planner.client.RuntimePlannerClient`: `fetch_plan` POSTs
  /api/v2/runtime/plan and returns None on any failure or malformed answer
  (client.py:167-205), `upload_benchmark` POSTs /api/v2/runtime/benchmarks (True on a
  2xx), `fetch_defaults` GETs /api/v2/runtime/defaults. Its base URL is the host.
- `octomil.routing.PolicyClient`: GET {api_base}/route/policy, with the ETag and
  Cache-Control it reads (routing.py:237-281).
"""

import uuid

from octomil.routing import PolicyClient
from octomil.runtime.planner.client import RuntimePlannerClient
from octomil.runtime.planner.schemas import DeviceRuntimeProfile, InstalledRuntime

from conftest import api_url, register_device

MODEL_ID = "kbd-next-word"


def add_version(admin, url, version):
    admin.post(f"{url}/api/v1/models", json={"model_id": MODEL_ID})
    res = admin.post(
        f"{url}/api/v1/models/{MODEL_ID}/versions",
        json={"version": version, "format": "gguf", "total_bytes": 2048, "sha256": "ab" * 32,
              "download_url": f"https://cdn.example.com/{MODEL_ID}/{version}/model.gguf"},
    )
    assert res.status_code == 201, res.text


def profile():
    return DeviceRuntimeProfile(
        sdk="python", sdk_version="4.17.42", platform="linux", arch="x86_64",
        ram_total_bytes=16 * 2**30,
        installed_runtimes=[InstalledRuntime(engine="llamacpp", version="0.3.0")],
    )


def test_fetch_plan_benchmark_and_defaults_through_the_sdk(devreg, admin):
    add_version(admin, devreg["url"], "1.0.0")
    device = register_device(devreg, f"sdk-plan-{uuid.uuid4().hex[:8]}")
    client = RuntimePlannerClient(base_url=devreg["url"], api_key=device["api_key"])

    plan = client.fetch_plan(model=MODEL_ID, capability="chat", device=profile())

    assert plan is not None, "the SDK parsed the plan"
    assert plan.model == MODEL_ID and plan.policy == "local_first"
    assert plan.fallback_allowed is False
    [candidate] = plan.candidates
    assert candidate.locality == "local"
    assert candidate.engine == "llama.cpp"
    assert candidate.artifact.model_version == "1.0.0"
    assert candidate.artifact.digest == "sha256:" + "ab" * 32
    assert client.upload_benchmark({
        "source": "planner", "model": MODEL_ID, "capability": "chat", "engine": "llama.cpp",
        "success": True, "tokens_per_second": 22.0, "ttft_ms": 95.0,
        "device": {"sdk": "python", "platform": "linux"},
    }) is True
    stored = admin.get(f"{devreg['url']}/api/v2/runtime/benchmarks").json()["benchmarks"]
    assert [b["engine"] for b in stored] == ["llama.cpp"]
    defaults = client.fetch_defaults()
    assert "local_first" in defaults["supported_policies"]


def test_policy_client_takes_the_policy_with_its_etag_and_ttl(devreg):
    device = register_device(devreg, f"sdk-route-{uuid.uuid4().hex[:8]}")
    client = PolicyClient(api_base=api_url(devreg), api_key=device["api_key"])

    fetched = client.get_policy()  # nothing cached yet: fetched from devreg

    assert fetched.etag == '"route-policy-v1"'
    assert fetched.ttl_seconds == 3600
    assert fetched.fast_max_words == 10 and fetched.quality_min_words == 50
