"""Issue 16: telemetry from the Python SDK, unmodified, listed back through the API.

- `octomil.telemetry.TelemetryReporter`: one OTLP/JSON logs envelope per event to
  POST /api/v2/telemetry/events (derived from its api_base ending in /api/v1).
- `octomil.device_agent.telemetry.TelemetryUploader`: batches to
  POST /api/v1/telemetry/batches (its api_base is the host).
"""

import json
import uuid

import requests

from octomil.device_agent.db.local_db import LocalDB
from octomil.device_agent.telemetry import events as events_mod
from octomil.device_agent.telemetry.db_schema import TELEMETRY_SCHEMA_STATEMENTS
from octomil.device_agent.telemetry.telemetry_store import TelemetryStore
from octomil.device_agent.telemetry.telemetry_uploader import TelemetryUploader
from octomil.install_id import get_install_id
from octomil.telemetry import TelemetryReporter

from conftest import api_url, register_device, telemetry_events, wait_for


def types_of(events):
    return [e["event_type"] for e in events]


def test_reporter_events_are_stored_and_listed(devreg):
    device = register_device(devreg, f"sdk-otlp-{uuid.uuid4().hex[:8]}")
    reporter = TelemetryReporter(
        api_key=device["api_key"],
        api_base=api_url(devreg),
        org_id=devreg["org_id"],
        device_id=device["id"],
    )
    reporter.report_inference_started("kbd-next-word", "1.0.0", session_id="s-1")
    reporter.report_inference_completed(
        "s-1", "kbd-next-word", "1.0.0",
        total_chunks=12, total_duration_ms=340.5, ttfc_ms=40.0, throughput=35.2,
    )
    reporter.track("funnel.first_run", {"step": 1})
    reporter.close()  # drains the queue; every event was POSTed

    events = wait_for(
        lambda: (lambda e: e if len(e) >= 3 else None)(telemetry_events(devreg, device["id"])),
        timeout=5,
        what="three stored OTLP events",
    )
    assert types_of(events) == ["inference.started", "inference.completed", "funnel.first_run"]
    completed = telemetry_events(devreg, device["id"], event_type="inference.completed")
    assert types_of(completed) == ["inference.completed"]
    # Log-record attributes are kept (the SDK sends intValue as a string, per OTLP/JSON).
    assert "inference.total_tokens" in json.dumps(completed[0])


def test_unknown_device_gets_the_needs_registration_signal(devreg, admin):
    """The reporter registers the device (as its install id) when devreg says so."""
    reporter = TelemetryReporter(
        api_key=devreg["publishable_key"],
        api_base=api_url(devreg),
        org_id=devreg["org_id"],
        device_id=f"never-registered-{uuid.uuid4().hex[:8]}",
    )
    reporter.track("funnel.app_open", {})
    install_id = get_install_id()
    wait_for(
        lambda: admin.get(f"{devreg['url']}/api/v1/devices/{install_id}").status_code == 200,
        timeout=10,
        what="the SDK's shadow registration",
    )
    reporter.close()


def make_agent_store(device_id):
    db = LocalDB(":memory:")
    for stmt in TELEMETRY_SCHEMA_STATEMENTS:  # as DeviceAgent._apply_telemetry_schema does
        db.execute(stmt)
    boot_id = uuid.uuid4().hex
    return db, boot_id, TelemetryStore(db, device_id=device_id, boot_id=boot_id)


def test_uploader_batches_arrive_once_and_are_acked(devreg):
    device = register_device(devreg, f"sdk-batch-{uuid.uuid4().hex[:8]}")
    db, boot_id, store = make_agent_store(device["id"])
    store.append_auto(events_mod.ARTIFACT_DOWNLOAD_STARTED, {"artifact_id": "a1"}, model_id="kbd", model_version="1.0.0")
    store.append_auto(events_mod.ARTIFACT_DOWNLOAD_COMPLETED, {"artifact_id": "a1", "bytes": 4096}, model_id="kbd")
    store.append_auto(events_mod.SERVING_REQUEST_COMPLETED, {"latency_ms": 12.5})

    uploader = TelemetryUploader(
        store=store,
        device_id=device["id"],
        boot_id=boot_id,
        api_base=devreg["url"],
        api_key=device["api_key"],
    )
    uploader.start()
    wait_for(lambda: not store.get_unsent(), timeout=10, what="the batch to be accepted (2xx)")
    uploader.stop()

    # ackedThroughSeq came back and the SDK recorded it.
    cursor = db.execute_one("SELECT last_acked_seq FROM telemetry_cursors WHERE boot_id = ?", (boot_id,))
    assert cursor is not None and cursor["last_acked_seq"] == 3

    events = telemetry_events(devreg, device["id"])
    assert sorted(types_of(events)) == sorted(
        [events_mod.ARTIFACT_DOWNLOAD_STARTED, events_mod.ARTIFACT_DOWNLOAD_COMPLETED, events_mod.SERVING_REQUEST_COMPLETED]
    )
    only = telemetry_events(devreg, device["id"], event_type=events_mod.SERVING_REQUEST_COMPLETED)
    assert types_of(only) == [events_mod.SERVING_REQUEST_COMPLETED]


def test_same_batch_sent_twice_is_stored_once(devreg):
    """The uploader's exact envelope (telemetry_uploader.py), posted twice as a retry would."""
    device = register_device(devreg, f"sdk-dup-{uuid.uuid4().hex[:8]}")
    _, boot_id, store = make_agent_store(device["id"])
    store.append_auto(events_mod.ARTIFACT_VERIFIED, {"artifact_id": "a1"})
    store.append_auto(events_mod.ARTIFACT_ACTIVATED, {"artifact_id": "a1"})
    events = store.get_unsent()
    envelope = {
        "device_id": device["id"],
        "boot_id": boot_id,
        "batch_id": uuid.uuid4().hex,
        "first_seq": events[0]["sequence_no"],
        "last_seq": events[-1]["sequence_no"],
        "events": events,
    }
    for _ in range(2):
        res = requests.post(
            f"{devreg['url']}/api/v1/telemetry/batches",
            headers={"Authorization": f"Bearer {device['api_key']}"},
            json=envelope,
        )
        assert 200 <= res.status_code < 300, res.text
        assert res.json()["ackedThroughSeq"] == 2
    assert len(telemetry_events(devreg, device["id"])) == 2
