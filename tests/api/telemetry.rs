//! Telemetry: OTLP/JSON logs and the device agent's batches, stored compactly,
//! deduplicated, listed back, summarised in retrieve, bounded by retention.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, assert_time_within, spawn_app, spawn_app_with};

const OTLP: &str = "/api/v2/telemetry/events";
const BATCHES: &str = "/api/v1/telemetry/batches";

async fn post(app: &TestApp, path: &str, key: Option<&str>, body: &Value) -> Reply {
    app.send(Method::POST, path, key, Some(&body.to_string()))
        .await
}

/// OTLP logs with one resource naming `device` and one record per event name.
fn otlp(device: &str, names: &[&str]) -> Value {
    let records: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "timeUnixNano": format!("{}", 1_771_864_200_000_000_000u64 + i as u64 * 1_000_000),
                "severityNumber": 9,
                "severityText": "INFO",
                "body": {"stringValue": name},
                "attributes": [
                    {"key": "inference.total_tokens", "value": {"intValue": "12"}},
                    {"key": "inference.ttft_ms", "value": {"doubleValue": 40.5}},
                    {"key": "ok", "value": {"boolValue": true}}
                ],
                "traceId": "0af7651916cd43dd8448eb211c80319c",
                "spanId": "b7ad6b7169203331"
            })
        })
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "octomil"}},
            {"key": "octomil.device.id", "value": {"stringValue": device}}
        ]},
        "scopeLogs": [{"scope": {"name": "octomil.inference", "version": "1.0.0"}, "logRecords": records}]
    }]})
}

/// A batch as the Python uploader builds it, events `first..=last`.
fn batch(device: &str, batch_id: &str, first: i64, last: i64, event_type: &str) -> Value {
    let events: Vec<Value> = (first..=last)
        .map(|n| {
            json!({
                "event_id": format!("ev-{n}"),
                "device_id": device,
                "boot_id": "boot-1",
                "session_id": null,
                "sequence_no": n,
                "event_type": event_type,
                "telemetry_class": "IMPORTANT",
                "occurred_at": "2026-02-23T16:30:00.123456+00:00",
                "model_id": "kbd",
                "model_version": null,
                "payload_json": "{\"artifact_id\": \"a1\"}"
            })
        })
        .collect();
    json!({"device_id": device, "boot_id": "boot-1", "batch_id": batch_id,
           "first_seq": first, "last_seq": last, "events": events})
}

async fn events(app: &TestApp, device: &str, query: &str) -> Vec<Value> {
    let reply = app
        .send(
            Method::GET,
            &format!("/api/v1/devices/{device}/telemetry?{query}"),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["events"].as_array().unwrap().clone()
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect()
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in metrics"))
}

#[tokio::test]
async fn otlp_records_are_stored_with_their_resource_and_attributes() {
    let app = spawn_app().await;
    let device = app.register_device("phone").await;
    let reply = post(
        &app,
        OTLP,
        Some(&device.key),
        &otlp(
            "ignored-with-a-device-key",
            &["inference.started", "inference.completed"],
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["accepted"], 2);
    assert_eq!(reply.body["needs_registration"], false);
    assert!(reply.header("x-device-needs-registration").is_none());

    let stored = events(&app, &device.id, "").await;
    assert_eq!(types(&stored), ["inference.started", "inference.completed"]);
    let event = &stored[1];
    assert_eq!(event["source"], "otlp");
    assert_eq!(event["scope"], "octomil.inference");
    assert_eq!(event["attributes"]["inference.total_tokens"], 12);
    assert_eq!(event["attributes"]["inference.ttft_ms"], 40.5);
    assert_eq!(event["resource"]["service.name"], "octomil");
    assert_eq!(event["occurred_at"], "2026-02-23T16:30:00Z");
    assert_eq!(event["occurred_at_ms"], 1_771_864_200_001i64);
    assert_eq!(event["trace_id"], "0af7651916cd43dd8448eb211c80319c");
}

#[tokio::test]
async fn an_org_key_names_the_device_in_the_resource_by_identifier_or_uuid() {
    let app = spawn_app().await;
    let device = app.register_device("phone").await;
    for (key, name) in [
        (app.publishable_key(), "phone"),
        (app.secret_key(), device.id.as_str()),
    ] {
        let reply = post(&app, OTLP, Some(key), &otlp(name, &["funnel.app_open"])).await;
        assert_eq!(reply.body["accepted"], 1, "{}", reply.body);
    }
    assert_eq!(events(&app, "phone", "").await.len(), 2);
}

#[tokio::test]
async fn an_unknown_device_gets_the_needs_registration_signal_and_nothing_is_stored() {
    let app = spawn_app().await;
    let reply = post(
        &app,
        OTLP,
        Some(app.publishable_key()),
        &otlp("never-seen", &["funnel.app_open"]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-device-needs-registration"), Some("true"));
    assert_eq!(reply.body["needs_registration"], true);
    assert_eq!(reply.body["accepted"], 0);
    assert_eq!(
        metric(
            &app.metrics().await,
            "devreg_telemetry_unknown_device_total"
        ),
        1
    );

    let reply = post(
        &app,
        BATCHES,
        Some(app.secret_key()),
        &batch("never-seen", "b1", 1, 2, "x"),
    )
    .await;
    reply.assert_error(404, "not_found");
    assert_eq!(reply.header("x-device-needs-registration"), Some("true"));
}

#[tokio::test]
async fn malformed_otlp_is_a_400_naming_the_path_and_stores_nothing() {
    let app = spawn_app().await;
    let device = app.register_device("phone").await;
    let mut body = otlp("phone", &["a", "b"]);
    body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1]["attributes"][0]["value"] =
        json!({"intValue": "twelve"});
    let message = post(&app, OTLP, Some(&device.key), &body)
        .await
        .assert_error(400, "bad_request")
        .to_owned();
    assert!(
        message
            .starts_with("resourceLogs[0].scopeLogs[0].logRecords[1].attributes[0].value.intValue"),
        "{message}"
    );
    for (bad, path) in [
        (json!({"resourceLogs": {}}), "resourceLogs must be an array"),
        (
            json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "soon"}]}]}]}),
            "resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano",
        ),
        (
            json!({"resourceLogs": [{"resource": {"attributes": [{"value": {}}]}}]}),
            "resourceLogs[0].resource.attributes[0].key",
        ),
        (json!({"logs": []}), "resourceLogs is required"),
    ] {
        let message = post(&app, OTLP, Some(&device.key), &bad)
            .await
            .assert_error(400, "bad_request")
            .to_owned();
        assert!(message.starts_with(path), "{message}");
    }
    let reply = app
        .send(Method::POST, OTLP, Some(&device.key), Some("{not json"))
        .await;
    reply.assert_error(400, "bad_request");
    assert!(events(&app, &device.id, "").await.is_empty());
}

#[tokio::test]
async fn a_batch_is_stored_once_and_acked_even_when_resent_under_a_new_batch_id() {
    let app = spawn_app().await;
    let device = app.register_device("agent").await;
    let body = batch(&device.id, "b1", 1, 3, "artifact.download_started");
    let reply = post(&app, BATCHES, Some(&device.key), &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["ackedThroughSeq"], 3);
    assert_eq!(reply.body["accepted"], 3);

    let again = post(&app, BATCHES, Some(&device.key), &body).await;
    assert_eq!(again.body["ackedThroughSeq"], 3);
    assert_eq!(again.body["duplicate_batch"], true);
    assert_eq!(again.body["accepted"], 0);
    // The uploader's retry: the same events under a new batch_id.
    let retry = post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "b2", 1, 4, "artifact.download_started"),
    )
    .await;
    assert_eq!(retry.body["accepted"], 1, "{}", retry.body);
    assert_eq!(retry.body["duplicates"], 3);
    assert_eq!(retry.body["ackedThroughSeq"], 4);

    let stored = events(&app, &device.id, "").await;
    assert_eq!(stored.len(), 4);
    insta::assert_json_snapshot!(stored[0]);
    let text = app.metrics().await;
    assert_eq!(
        metric(&text, "devreg_telemetry_events_total{source=\"batch\"}"),
        4
    );
    assert_eq!(metric(&text, "devreg_telemetry_duplicates_total"), 6);
}

#[tokio::test]
async fn a_batch_id_is_remembered_for_a_day_then_forgotten_by_the_sweep() {
    let app = spawn_app().await;
    let device = app.register_device("agent").await;
    let first = post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "b1", 1, 2, "x"),
    )
    .await;
    assert_eq!(first.body["accepted"], 2, "{}", first.body);

    // A day less a second later the id is still known: new events under it are not stored.
    app.server.advance_clock(86_399);
    app.server.sweep().await;
    assert_eq!(
        app.count_rows("telemetry_batches"),
        1,
        "the sweep keeps a batch within its day"
    );
    let resent = post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "b1", 3, 4, "x"),
    )
    .await;
    assert_eq!(resent.body["duplicate_batch"], true, "{}", resent.body);
    assert_eq!(resent.body["accepted"], 0);

    // Past the day it counts as new, even before a sweep removed it.
    app.server.advance_clock(2);
    let later = post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "b1", 3, 4, "x"),
    )
    .await;
    assert_eq!(later.body["duplicate_batch"], false, "{}", later.body);
    assert_eq!(later.body["accepted"], 2);
    assert_eq!(events(&app, &device.id, "").await.len(), 4);
    // Sent again now, it is the batch just stored, remembered from this time on.
    let again = post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "b1", 3, 4, "x"),
    )
    .await;
    assert_eq!(again.body["duplicate_batch"], true, "{}", again.body);

    app.server.advance_clock(86_401);
    app.server.sweep().await;
    assert_eq!(
        app.count_rows("telemetry_batches"),
        0,
        "the sweep forgets batches past their day"
    );
}

#[tokio::test]
async fn batch_limits_and_bad_fields_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    let device = app.register_device("agent").await;
    let key = Some(device.key.as_str());
    let message = post(&app, BATCHES, key, &batch(&device.id, "big", 1, 101, "x"))
        .await
        .assert_error(400, "bad_request")
        .to_owned();
    assert!(message.contains("at most 100"), "{message}");

    let mut bad_time = batch(&device.id, "t", 1, 2, "x");
    bad_time["events"][1]["occurred_at"] = json!("yesterday");
    let message = post(&app, BATCHES, key, &bad_time)
        .await
        .assert_error(400, "bad_request")
        .to_owned();
    assert!(message.starts_with("events[1].occurred_at"), "{message}");

    let mut bad_type = batch(&device.id, "t", 1, 2, "x");
    bad_type["events"][0]["sequence_no"] = json!("one");
    let message = post(&app, BATCHES, key, &bad_type)
        .await
        .assert_error(400, "bad_request")
        .to_owned();
    assert!(message.starts_with("events[0].sequence_no"), "{message}");

    let mut missing = batch(&device.id, "t", 1, 1, "x");
    missing.as_object_mut().unwrap().remove("batch_id");
    post(&app, BATCHES, key, &missing)
        .await
        .assert_error(400, "bad_request");

    // Over 256 KiB of events (and the envelope's allowance): 413, not the 64 KiB limit.
    let mut huge = batch(&device.id, "h", 1, 90, "x");
    for event in huge["events"].as_array_mut().unwrap() {
        event["payload_json"] = json!("y".repeat(3000));
    }
    let size = huge.to_string().len();
    assert!(size > 260 * 1024 && size < 300 * 1024, "{size}");
    post(&app, BATCHES, key, &huge)
        .await
        .assert_error(413, "payload_too_large");
    // 200 KiB is fine here, though over the server-wide 64 KiB.
    let mut large = batch(&device.id, "l", 1, 70, "x");
    for event in large["events"].as_array_mut().unwrap() {
        event["payload_json"] = json!("y".repeat(3000));
    }
    assert_eq!(
        post(&app, BATCHES, key, &large).await.status,
        StatusCode::OK
    );
    assert_eq!(events(&app, &device.id, "limit=1000").await.len(), 70);
}

#[tokio::test]
async fn telemetry_credentials_follow_the_contract() {
    let app = spawn_app().await;
    let device = app.register_device("agent").await;
    let neighbour = app.register_device("neighbour").await;
    post(&app, BATCHES, None, &batch("agent", "b", 1, 1, "x"))
        .await
        .assert_error(401, "unauthorized");
    post(&app, OTLP, None, &otlp("agent", &["x"]))
        .await
        .assert_error(401, "unauthorized");
    for key in [app.publishable_key(), app.secret_key(), device.key.as_str()] {
        let reply = post(
            &app,
            BATCHES,
            Some(key),
            &batch("agent", &format!("b-{key}"), 1, 1, "x"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    // A device key's batch is its own, whatever device_id says.
    post(
        &app,
        BATCHES,
        Some(&neighbour.key),
        &batch("agent", "n", 5, 5, "x"),
    )
    .await;
    assert_eq!(events(&app, "agent", "").await.len(), 1);
    assert_eq!(events(&app, "neighbour", "").await.len(), 1);
    // Reading: the secret key or the device itself.
    let path = format!("/api/v1/devices/{}/telemetry", device.id);
    assert_eq!(
        app.send(Method::GET, &path, Some(&device.key), None)
            .await
            .status,
        StatusCode::OK
    );
    app.send(Method::GET, &path, Some(&neighbour.key), None)
        .await
        .assert_error(404, "not_found");
    app.send(Method::GET, &path, Some(app.publishable_key()), None)
        .await
        .assert_error(403, "forbidden");
    let other = app.create_org("org_other");
    app.send(Method::GET, &path, Some(&other.secret_key), None)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn the_listing_pages_with_after_and_filters_by_event_type() {
    let app = spawn_app().await;
    let device = app.register_device("agent").await;
    post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "a", 1, 5, "serving.request_completed"),
    )
    .await;
    post(
        &app,
        OTLP,
        Some(&device.key),
        &otlp("agent", &["inference.started", "inference.completed"]),
    )
    .await;

    let path = format!("/api/v1/devices/{}/telemetry", device.id);
    let page = app
        .send(
            Method::GET,
            &format!("{path}?limit=3"),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(page.body["events"].as_array().unwrap().len(), 3);
    let after = page.body["next_after"]
        .as_i64()
        .expect("a full page has next_after");
    let rest = app
        .send(
            Method::GET,
            &format!("{path}?limit=3&after={after}"),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 3);
    let last = app
        .send(
            Method::GET,
            &format!("{path}?limit=3&after={}", rest.body["next_after"]),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(last.body["events"].as_array().unwrap().len(), 1);
    assert!(last.body["next_after"].is_null());

    assert_eq!(
        types(&events(&app, "agent", "event_type=inference.completed").await),
        ["inference.completed"]
    );
    assert!(
        events(&app, "agent", "event_type=nothing.like.it")
            .await
            .is_empty()
    );
    app.send(
        Method::GET,
        &format!("{path}?limit=0"),
        Some(app.secret_key()),
        None,
    )
    .await
    .assert_error(400, "bad_request");
    app.send(
        Method::GET,
        &format!("{path}?after=-1"),
        Some(app.secret_key()),
        None,
    )
    .await
    .assert_error(400, "bad_request");
}

#[tokio::test]
async fn retrieve_shows_the_latest_telemetry_summary() {
    let app = spawn_app().await;
    let device = app.register_device("agent").await;
    let before = app.get_device(Some(app.secret_key()), "agent").await;
    assert!(before.body["telemetry"].is_null());
    assert!(before.body["metadata"].is_object(), "existing fields stay");
    let sent_at = app.server.now();
    post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "a", 1, 2, "model.loaded"),
    )
    .await;
    post(
        &app,
        OTLP,
        Some(&device.key),
        &otlp("agent", &["inference.completed"]),
    )
    .await;
    let summary = app.get_device(Some(&device.key), "agent").await.body["telemetry"].clone();
    assert_eq!(summary["received"], 3);
    assert_eq!(summary["stored"], 3);
    assert_eq!(summary["by_type"]["model.loaded"]["count"], 2);
    assert_eq!(summary["by_type"]["inference.completed"]["count"], 1);
    assert_eq!(summary["last_event_at"], "2026-02-23T16:30:00Z");
    assert_time_within(&summary["last_received_at"], sent_at, app.server.now());
}

#[tokio::test]
async fn retention_per_device_drops_the_oldest_and_counts_them() {
    let app = spawn_app_with(|c| c.telemetry_per_device = 5).await;
    let device = app.register_device("agent").await;
    post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "a", 1, 4, "x"),
    )
    .await;
    post(
        &app,
        BATCHES,
        Some(&device.key),
        &batch(&device.id, "b", 5, 7, "x"),
    )
    .await;
    let stored = events(&app, "agent", "").await;
    let seqs: Vec<i64> = stored
        .iter()
        .map(|e| e["sequence_no"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5, 6, 7]);
    assert_eq!(
        metric(
            &app.metrics().await,
            "devreg_telemetry_dropped_total{bound=\"device\"}"
        ),
        2
    );
    let summary = app.get_device(Some(app.secret_key()), "agent").await.body["telemetry"].clone();
    assert_eq!(
        (
            summary["received"].as_i64(),
            summary["stored"].as_i64(),
            summary["dropped"].as_i64()
        ),
        (Some(7), Some(5), Some(2))
    );
}

#[tokio::test]
async fn retention_per_org_drops_the_orgs_oldest_across_devices() {
    let app = spawn_app_with(|c| c.telemetry_per_org = 4).await;
    let one = app.register_device("one").await;
    let two = app.register_device("two").await;
    let other = app.create_org("org_other");
    let theirs = app
        .register_device_with(&other.secret_key, json!({"device_id": "theirs"}))
        .await;
    post(
        &app,
        BATCHES,
        Some(&theirs.key),
        &batch("theirs", "t", 1, 3, "x"),
    )
    .await;
    post(&app, BATCHES, Some(&one.key), &batch("one", "a", 1, 3, "x")).await;
    post(&app, BATCHES, Some(&two.key), &batch("two", "b", 1, 3, "x")).await;
    assert_eq!(
        events(&app, "one", "").await.len(),
        1,
        "one's two oldest went"
    );
    assert_eq!(events(&app, "two", "").await.len(), 3);
    assert_eq!(
        metric(
            &app.metrics().await,
            "devreg_telemetry_dropped_total{bound=\"org\"}"
        ),
        2
    );
    // The other org's events are its own.
    let reply = app
        .send(
            Method::GET,
            "/api/v1/devices/theirs/telemetry",
            Some(&other.secret_key),
            None,
        )
        .await;
    assert_eq!(reply.body["events"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn rows_stay_small() {
    let app = spawn_app().await;
    let device = app.register_device("agent").await;
    for b in 0..10 {
        let body = batch(
            &device.id,
            &format!("b{b}"),
            b * 100 + 1,
            b * 100 + 100,
            "serving.request_completed",
        );
        assert_eq!(
            post(&app, BATCHES, Some(&device.key), &body).await.status,
            StatusCode::OK
        );
    }
    let bytes: i64 = app
        .server
        .db()
        .read_sync(|c| {
            c.query_row(
                "SELECT CAST(sum(length(body)) + 8 * count(*) AS BIGINT) FROM telemetry_events",
                &[],
                |r| r.get(0),
            )
        })
        .unwrap();
    // event_id, sequence_no, class, model, payload: well under 200 bytes of row an event.
    assert!(bytes / 1000 < 200, "{} bytes an event", bytes / 1000);
}

#[tokio::test]
async fn telemetry_naming_a_device_in_another_unicode_spelling_is_that_devices() {
    let app = spawn_app().await;
    // Registered as "café" in NFC (é one code point); named in NFD (e and U+0301).
    let device = app.register_device("caf\u{e9}").await;
    let nfd = "cafe\u{301}";
    let reply = post(
        &app,
        BATCHES,
        Some(app.secret_key()),
        &batch(nfd, "b-nfd", 1, 2, "x"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["accepted"], 2, "{}", reply.body);
    let reply = post(
        &app,
        OTLP,
        Some(app.publishable_key()),
        &otlp(nfd, &["funnel.app_open"]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["accepted"], 1, "{}", reply.body);
    assert_eq!(reply.body["needs_registration"], false);
    assert!(reply.header("x-device-needs-registration").is_none());
    let stored = events(&app, &device.id, "").await;
    assert_eq!(types(&stored), ["x", "x", "funnel.app_open"]);
}
