"""Issue 27: streaming-inference events from the Python SDK, unmodified, stored as telemetry.

`octomil.python.octomil.inference.StreamingInferenceClient` reports
`generation_started` and `generation_completed` (with its timing metrics) to
POST /api/v1/inference/events through `_ApiClient.post` (inference.py:349-371);
`_ApiClient.report_inference_event` (api_client.py:223-225) is the same call made directly.
devreg stores each as the device's telemetry typed `inference.<event_type>`.
"""

import time
import uuid

from octomil.python.octomil.api_client import _ApiClient
from octomil.python.octomil.inference import Modality, StreamingInferenceClient

from conftest import api_url, register_device, telemetry_events


def test_streaming_inference_events_are_stored_as_telemetry(devreg):
    device = register_device(devreg, f"sdk-infer-{uuid.uuid4().hex[:8]}")
    api = _ApiClient(auth_token_provider=lambda: device["api_key"], api_base=api_url(devreg))
    client = StreamingInferenceClient(api, device_id=device["id"], org_id=devreg["org_id"])

    chunks = list(client.generate("kbd-next-word", prompt="hello", modality=Modality.TEXT))

    result = client.last_result
    events = telemetry_events(devreg, device["id"])
    assert [e["event_type"] for e in events] == [
        "inference.generation_started",
        "inference.generation_completed",
    ]
    started, completed = events
    assert started["session_id"] == completed["session_id"] == result.session_id
    assert completed["model_id"] == "kbd-next-word"
    assert completed["version"] == "latest"
    assert completed["modality"] == "text"
    assert completed["metrics"]["total_chunks"] == len(chunks) == result.total_chunks


def test_report_inference_event_answers_accepted_and_a_repeat_is_stored_once(devreg):
    device = register_device(devreg, f"sdk-infer-{uuid.uuid4().hex[:8]}")
    api = _ApiClient(auth_token_provider=lambda: device["api_key"], api_base=api_url(devreg))
    payload = {
        "device_id": device["id"],
        "model_id": "kbd-next-word",
        "version": "1.0.0",
        "modality": "text",
        "session_id": "s-1",
        "event_type": "generation_failed",
        "timestamp_ms": int(time.time() * 1000),
        "org_id": devreg["org_id"],
    }

    first = api.report_inference_event(payload)
    again = api.report_inference_event(payload)

    assert first["status"] == "accepted" and first["session_id"] == "s-1"
    assert first["duplicate"] is False and again["duplicate"] is True
    stored = telemetry_events(devreg, device["id"], event_type="inference.generation_failed")
    assert len(stored) == 1
