"""Issue 26: the official Python SDK's ModelRegistry (octomil/python/octomil/registry.py)
reads devreg's registry unmodified: it finds a model by name in `GET /models` (reading
`item["id"]`, lines 82-91), gets it, lists and gets its versions and reads the latest
version (lines 112-158), and deletes a version's model once nothing deploys it.
"""

from octomil.python.octomil.api_client import OctomilClientError
from octomil.python.octomil.registry import ModelRegistry

from conftest import api_url

SHA = "ab" * 32


def _registry(devreg):
    return ModelRegistry(
        auth_token_provider=lambda: devreg["secret_key"],
        org_id=devreg["org_id"],
        api_base=api_url(devreg),
    )


def _add(admin, model_id, name, versions):
    res = admin.post(f"{admin.base}/api/v1/models", json={"model_id": model_id, "name": name})
    assert res.status_code == 201, res.text
    for version in versions:
        res = admin.post(
            f"{admin.base}/api/v1/models/{model_id}/versions",
            json={
                "version": version,
                "format": "onnx",
                "total_bytes": 4096,
                "sha256": SHA,
                "download_url": f"https://cdn.example.com/{model_id}/{version}.onnx",
            },
        )
        assert res.status_code == 201, res.text
        # Versions added in one second are ordered by their artifact ids: move on anyway,
        # so "latest" does not depend on it.
        res = admin.post(f"{admin.base}/_devreg/clock", json={"advance_seconds": 1})
        assert res.status_code == 200, res.text


def test_model_registry_finds_a_model_by_name_and_reads_its_versions(devreg, admin):
    _add(admin, "kbd-next-word", "Keyboard next word", ["1.0.0", "1.1.0"])
    registry = _registry(devreg)

    model_id = registry.resolve_model_id("Keyboard next word")
    model = registry.get_model(model_id)
    by_name = registry.get_model("Keyboard next word")
    latest = registry.get_latest_version(model_id)
    info = registry.get_latest_version_info("Keyboard next word")
    versions = registry.list_versions(model_id, limit=1)
    one = registry.get_version(model_id, "1.0.0")
    listed = registry.list_models()

    assert model_id == "kbd-next-word"
    assert model["id"] == "kbd-next-word" and model["version_count"] == 2
    assert by_name["id"] == "kbd-next-word"
    assert latest == "1.1.0"
    assert info["download_url"] == "https://cdn.example.com/kbd-next-word/1.1.0.onnx"
    assert [v["version"] for v in versions["versions"]] == ["1.1.0"]
    assert versions["total"] == 2
    assert one["checksum"] == SHA and one["size_bytes"] == 4096
    assert [m["id"] for m in listed["models"]] == ["kbd-next-word"]


def test_model_registry_latest_of_a_model_without_versions_raises_and_delete_works(devreg, admin):
    _add(admin, "empty", "Empty", [])
    registry = _registry(devreg)

    try:
        registry.get_latest_version("empty")
        raised = None
    except OctomilClientError as error:
        raised = error
    deleted = registry.delete_model("Empty")

    assert raised is not None
    assert deleted["deleted"] is True and deleted["model_id"] == "empty"
    assert registry.list_models()["models"] == []
