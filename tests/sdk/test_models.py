"""Hosted model files (issue 26) with the official Python SDK, unmodified: its registry
publishes a version through devreg's upload URL, upload and confirmation
(octomil/python/octomil/registry.py `_upload_via_presigned`), and its downloaders fetch
and verify the bytes: the registry's `download` (`get_download_url` then a GET of `url`
with a fresh client, registry.py `_download_file`) and the resumable `DurableDownloader`
(runtime/lifecycle/durable_download.py), which resumes with `Range: bytes=N-`.
"""

import hashlib
import os

import requests
from octomil.python.octomil.registry import ModelRegistry
from octomil.runtime.lifecycle.durable_download import (
    ArtifactDescriptor,
    DownloadEndpoint,
    DurableDownloader,
    RequiredFile,
)

from conftest import api_url


def _model_file(tmp_path, size=3 * 1024 * 1024 + 17):
    data = os.urandom(size)
    path = tmp_path / "kbd.onnx"
    path.write_bytes(data)
    return path, data


def _registry(devreg):
    return ModelRegistry(
        auth_token_provider=lambda: devreg["secret_key"],
        org_id=devreg["org_id"],
        api_base=api_url(devreg),
    )


def test_the_registry_publishes_a_file_and_downloads_it_back_verified(devreg, tmp_path):
    path, data = _model_file(tmp_path)
    registry = _registry(devreg)

    # OctomilClient.push names the model by name; devreg makes it on first upload.
    published = registry.upload_version_from_path("kbd-next-word", str(path), "1.0.0")

    digest = hashlib.sha256(data).hexdigest()
    assert published["version"] == "1.0.0"
    assert published["sha256"] == digest
    assert published["total_bytes"] == len(data)
    assert published["format"] == "onnx"
    assert published["files"] == [{"path": "kbd.onnx", "size": len(data), "sha256": digest}]

    info = registry.get_download_url("kbd-next-word", "1.0.0")
    assert info["checksum"] == digest and info["file_size"] == len(data)
    assert "Authorization" not in info["url"]

    out = tmp_path / "out"
    result = registry.download("kbd-next-word", "1.0.0", str(out), format="onnx")
    assert open(result["model_path"], "rb").read() == data


def test_a_version_is_not_visible_before_its_upload_is_confirmed(devreg, admin):
    ticket = requests.post(
        f"{api_url(devreg)}/models/kbd/versions/upload-url",
        data={"version": "2.0.0", "filename": "kbd.onnx"},
        headers={"Authorization": f"Bearer {devreg['secret_key']}"},
    )
    assert ticket.status_code == 201, ticket.text
    put = requests.put(ticket.json()["upload_url"], data=b"partial bytes")
    assert put.status_code == 200, put.text

    res = admin.get(f"{devreg['url']}/api/v1/models/kbd/versions/2.0.0/download-url")
    assert res.status_code == 404, res.text
    listed = admin.get(f"{devreg['url']}/api/v1/models").json()["models"]
    assert [m["versions"] for m in listed if m["model_id"] == "kbd"] == [[]]


def test_the_durable_downloader_resumes_a_partial_download_with_range(devreg, tmp_path):
    path, data = _model_file(tmp_path)
    registry = _registry(devreg)
    published = registry.upload_version_from_path("kbd", str(path), "1.0.0")
    info = registry.get_download_url("kbd", "1.0.0")

    # A download that stopped half-way: its .part file holds the first half.
    dest = tmp_path / "dest"
    (dest / ".parts").mkdir(parents=True)
    half = len(data) // 2
    (dest / ".parts" / "artifact.part").write_bytes(data[:half])
    downloader = DurableDownloader(cache_dir=tmp_path / "cache")
    # Its journal says so too (the downloader resumes from the smaller of the two).
    downloader._journal.record(published["artifact_id"], "", half, 0)
    descriptor = ArtifactDescriptor(
        artifact_id=published["artifact_id"],
        required_files=[RequiredFile(relative_path="", digest=f"sha256:{info['checksum']}")],
        endpoints=[DownloadEndpoint(url=info["url"], expires_at=info["expires_at"])],
    )

    # The journal outlives /_devreg/reset and lists a page of it: start it empty, so the
    # page holds this download's requests whatever the tests before it sent.
    assert requests.delete(f"{devreg['url']}/_devreg/requests").status_code in (200, 204)
    result = downloader.download(descriptor, dest)

    assert result.files[""].read_bytes() == data
    journal = requests.get(f"{devreg['url']}/_devreg/requests").json()
    fetched = [
        e["status"]
        for e in journal["requests"]
        if e["method"] == "GET" and f"/artifacts/{published['artifact_id']}/files/" in e["path"]
    ]
    assert fetched == [206], "only the missing half was fetched, with Range"


def test_create_version_publishes_an_upload_named_by_storage_path(devreg, tmp_path):
    path, data = _model_file(tmp_path, size=4096)
    registry = _registry(devreg)
    ticket = requests.post(
        f"{api_url(devreg)}/models/kbd/versions/upload-url",
        data={"version": "3.0.0", "filename": "kbd.tflite"},
        headers={"Authorization": f"Bearer {devreg['secret_key']}"},
    ).json()
    assert requests.put(ticket["upload_url"], data=data).status_code == 200

    created = registry.create_version(
        "kbd",
        "3.0.0",
        storage_path=ticket["storage_key"],
        fmt="tflite",
        checksum=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
    )

    assert created["format"] == "tflite"
    assert created["sha256"] == hashlib.sha256(data).hexdigest()
    out = tmp_path / "out.tflite"
    registry.download_version("kbd", "3.0.0", "tflite", str(out))
    assert out.read_bytes() == data


def test_create_version_with_a_url_keeps_the_file_where_it_is(devreg):
    registry = _registry(devreg)
    requests.post(
        f"{api_url(devreg)}/models",
        json={"model_id": "kbd-ext"},
        headers={"Authorization": f"Bearer {devreg['secret_key']}"},
    )

    created = registry.create_version(
        "kbd-ext",
        "1.0.0",
        storage_path="https://cdn.example.com/kbd/1.0.0/model.onnx",
        fmt="onnx",
        checksum="ab" * 32,
        size_bytes=4096,
    )

    assert created["download_url"] == "https://cdn.example.com/kbd/1.0.0/model.onnx"
    assert registry.get_download_url("kbd-ext", "1.0.0")["url"] == created["download_url"]
