//! The iOS and browser SDKs' experiment calls, replayed: each test sends exactly what the
//! SDK's source sends (path, method, headers, body) and checks every field the source
//! decodes, with the type it decodes it as.
//!
//! Sources: iOS `octomil/octomil-ios@bd482a5` `Sources/Octomil/Experiments/
//! ExperimentsClient.swift` (the `Experiment` and `ExperimentVariant` types, 7-34;
//! `getVariant`, 70-91; `trackMetric`, 114-135) and `Client/APIClient+Training.swift`
//! (`trackMetric` POST `api/v1/experiments/{id}/events` with a JSON `TrackingEvent`, 91;
//! `getActiveExperiments` GET `api/v1/experiments` decoding `[Experiment]`, 102-111;
//! `getExperimentConfig` GET `api/v1/experiments/{id}` decoding `Experiment`, 113-122);
//! `TrackingEvent` `{name, properties, timestamp}` in `Client/APIModels+Server.swift`
//! 6-47. Browser `octomil/octomil-browser@8be93b4` `src/experiments.ts`
//! (`getActiveExperiments` GET `/api/v1/experiments?status=active`, `Accept:
//! application/json`, Bearer key, reading `data.experiments`, 43-69;
//! `getExperimentConfig`, 71-85; `getVariant` reading `variants[].trafficPercentage`,
//! 91-107; `trackMetric` POST `/metrics` `{metric_name, value, device_id, timestamp}`,
//! 136-160) and `src/types.ts` 403-417 (`Experiment {id, name, status, variants,
//! createdAt}`, `ExperimentVariant {id, name, modelId, modelVersion, trafficPercentage}`).
//! The assignment the test expects is computed here with `sha2`, by the iOS rule as its
//! source writes it, not by devreg's code.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Device, TestApp, spawn_app};
use crate::sdk_replay::sdk_send;

const MODEL: &str = "kbd-ab";

/// An active experiment on two versions, 30% and 70%, created and started by the
/// operator; its id.
async fn running_experiment(app: &TestApp) -> String {
    app.add_model_version(MODEL, "1.0.0").await;
    app.add_model_version(MODEL, "2.0.0").await;
    let created = app
        .post(
            "/api/v1/experiments",
            Some(app.secret_key()),
            json!({"name": "kbd v2", "model_id": MODEL, "variants": [
                {"name": "control", "model_version": "1.0.0", "traffic_allocation": 30.0, "is_control": true},
                {"name": "treatment", "model_version": "2.0.0", "traffic_allocation": 70.0}
            ]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let started = app
        .post(
            &format!("/api/v1/experiments/{id}/start"),
            Some(app.secret_key()),
            json!({}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    id
}

async fn ios_device(app: &TestApp, identifier: &str) -> Device {
    app.register_device_with(
        app.publishable_key(),
        json!({"device_identifier": identifier, "platform": "ios"}),
    )
    .await
}

/// iOS `getVariant` over a decoded experiment: SHA-256 of "id:deviceId", the first four
/// bytes big-endian modulo 100, cumulative `traffic_percentage` in order, only when the
/// status is "active".
fn ios_variant(experiment: &Value, device_id: &str) -> Option<String> {
    if experiment["status"] != "active" {
        return None;
    }
    let key = format!("{}:{device_id}", experiment["id"].as_str().unwrap());
    let digest = Sha256::digest(key.as_bytes());
    let bucket = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 100;
    let mut cumulative = 0;
    for variant in experiment["variants"].as_array().unwrap() {
        cumulative += variant["traffic_percentage"].as_u64().unwrap() as u32;
        if bucket < cumulative {
            return Some(variant["name"].as_str().unwrap().to_owned());
        }
    }
    None
}

/// Every field iOS's `Experiment` decodes, with its Swift type.
fn assert_ios_experiment(e: &Value) {
    for field in ["id", "name", "status", "created_at"] {
        assert!(e[field].is_string(), "{field} is a String: {e}");
    }
    let variants = e["variants"].as_array().expect("variants is an array");
    assert!(!variants.is_empty());
    for v in variants {
        for field in ["id", "name", "model_id", "model_version"] {
            assert!(v[field].is_string(), "variant {field} is a String: {v}");
        }
        assert!(
            v["traffic_percentage"].is_u64(),
            "traffic_percentage decodes as an Int: {v}"
        );
    }
}

/// Every field the browser's `Experiment` type has, with its TypeScript type.
fn assert_browser_experiment(e: &Value) {
    for field in ["id", "name", "status", "createdAt"] {
        assert!(e[field].is_string(), "{field} is a string: {e}");
    }
    for v in e["variants"].as_array().expect("variants is an array") {
        for field in ["id", "name", "modelId", "modelVersion"] {
            assert!(v[field].is_string(), "variant {field} is a string: {v}");
        }
        assert!(v["trafficPercentage"].is_number(), "{v}");
    }
}

#[tokio::test]
async fn ios_lists_reads_assigns_like_the_server_and_tracks_a_metric() {
    let app = spawn_app().await;
    let id = running_experiment(&app).await;
    let device = ios_device(&app, "iphone-ab-1").await;
    let ios = [
        ("authorization", format!("Bearer {}", device.key)),
        ("user-agent", "octomil-ios/1.0".to_owned()),
    ];
    let headers: Vec<(&str, &str)> = ios.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let listed = sdk_send(&app, Method::GET, "/api/v1/experiments", &headers, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let list = listed.body.as_array().expect("[Experiment]: a bare array");
    assert_eq!(list.len(), 1);
    assert_ios_experiment(&list[0]);
    assert_eq!(list[0]["status"], "active");
    assert_eq!(list[0]["id"], id.as_str());

    let config = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/experiments/{id}"),
        &headers,
        None,
    )
    .await;
    assert_eq!(config.status, StatusCode::OK, "{}", config.body);
    assert_ios_experiment(&config.body);

    // The app's local assignment (with the device's id, as the SDK holds it) is the
    // server's.
    let local = ios_variant(&config.body, &device.id).expect("30% + 70% enrols everyone");
    let assigned = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/experiments/{id}/assign"),
        &headers,
        None,
    )
    .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    assert_eq!(assigned.body["name"], local.as_str());

    // trackMetric: a TrackingEvent, metric_value a String(Double), device_id "" when nil.
    let tracked = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/experiments/{id}/events"),
        &headers,
        Some(json!({
            "name": "latency_ms",
            "properties": {"metric_name": "latency_ms", "metric_value": "12.5", "device_id": ""},
            "timestamp": "2026-12-07T12:00:00Z"
        })),
    )
    .await;
    assert_eq!(tracked.status, StatusCode::OK, "{}", tracked.body);
    assert!(
        tracked.body.is_object(),
        "APIEmptyResponse decodes a JSON object"
    );

    let results = app
        .get(
            &format!("/api/v1/experiments/{id}/results"),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(results.status, StatusCode::OK, "{}", results.body);
    let variant = results.body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == local.as_str())
        .unwrap();
    assert_eq!(variant["devices"], 1);
    assert_eq!(variant["events"], 1);
    assert_eq!(variant["metrics"]["latency_ms"]["mean"], 12.5);
}

#[tokio::test]
async fn ios_local_assignment_matches_the_server_for_many_devices() {
    let app = spawn_app().await;
    let id = running_experiment(&app).await;
    let experiment = app
        .get(&format!("/api/v1/experiments/{id}"), Some(app.secret_key()))
        .await
        .body;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..20 {
        let device = ios_device(&app, &format!("iphone-{i}")).await;
        let local = ios_variant(&experiment, &device.id).unwrap();
        let server = app
            .get(
                &format!("/api/v1/experiments/{id}/assign?device_id={}", device.id),
                Some(app.secret_key()),
            )
            .await;
        assert_eq!(server.status, StatusCode::OK, "{}", server.body);
        assert_eq!(server.body["name"], local.as_str(), "device {}", device.id);
        seen.insert(local);
    }
    assert_eq!(seen.len(), 2, "20 devices land in both variants: {seen:?}");
}

#[tokio::test]
async fn browser_lists_active_experiments_in_its_envelope_and_posts_a_metric() {
    let app = spawn_app().await;
    let id = running_experiment(&app).await;
    let device = ios_device(&app, "browser-ab-1").await;
    let bearer = format!("Bearer {}", app.publishable_key());
    let headers = [
        ("accept", "application/json"),
        ("authorization", bearer.as_str()),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        ),
    ];

    let listed = sdk_send(
        &app,
        Method::GET,
        "/api/v1/experiments?status=active",
        &headers,
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let list = listed.body["experiments"]
        .as_array()
        .expect("data.experiments");
    assert_eq!(list.len(), 1);
    assert_browser_experiment(&list[0]);
    let shares: Vec<u64> = list[0]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["trafficPercentage"].as_u64().unwrap())
        .collect();
    assert_eq!(shares, [30, 70]);

    let config = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/experiments/{id}"),
        &headers,
        None,
    )
    .await;
    assert_eq!(config.status, StatusCode::OK, "{}", config.body);
    assert_browser_experiment(&config.body);

    // trackMetric: the answer is not read; the metric is stored for the device it names.
    let tracked = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/experiments/{id}/metrics"),
        &headers[1..],
        Some(
            json!({"metric_name": "accuracy", "value": 0.75, "device_id": device.id,
                    "timestamp": 1_765_108_800_000_i64}),
        ),
    )
    .await;
    assert_eq!(tracked.status, StatusCode::OK, "{}", tracked.body);
    let results = app
        .get(
            &format!("/api/v1/experiments/{id}/results"),
            Some(app.secret_key()),
        )
        .await;
    let reported: Vec<&Value> = results.body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["events"] == 1)
        .collect();
    assert_eq!(reported.len(), 1, "{}", results.body);
    assert_eq!(reported[0]["metrics"]["accuracy"]["mean"], 0.75);
    // Nothing else lists the browser's envelope: without a browser's User-Agent, the
    // same call is a bare array.
    let plain = app
        .get(
            "/api/v1/experiments?status=active",
            Some(app.publishable_key()),
        )
        .await;
    assert!(plain.body.is_array(), "{}", plain.body);
}

#[tokio::test]
async fn reports_for_another_orgs_device_or_unknown_experiments_are_404_and_store_nothing() {
    let app = spawn_app().await;
    let id = running_experiment(&app).await;
    let other = app.create_org("other");
    let outsider = app
        .register_device_with(&other.secret_key, json!({"device_id": "outsider"}))
        .await;
    let sent = app
        .post(
            &format!("/api/v1/experiments/{id}/metrics"),
            Some(app.secret_key()),
            json!({"metric_name": "accuracy", "value": 1.0, "device_id": outsider.id}),
        )
        .await;
    sent.assert_error(404, "not_found");
    let unknown = app
        .post(
            "/api/v1/experiments/nothing-here/events",
            Some(&outsider.key),
            json!({"name": "opened"}),
        )
        .await;
    unknown.assert_error(404, "not_found");
    let bad = app
        .post(
            &format!("/api/v1/experiments/{id}/metrics"),
            Some(app.secret_key()),
            json!({"metric_name": "accuracy", "value": "fast", "device_id": "x"}),
        )
        .await;
    bad.assert_error(400, "bad_request");
    assert_eq!(app.count_rows("experiment_reports"), 0);
}
