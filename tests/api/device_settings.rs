//! The rest of the device loop (issue 27, item 3): `/health` beside `/healthz`, iOS's
//! device profiles, a device's groups from its labels, the org's device policy and the
//! streaming-inference events. Each replay sends what its SDK's source sends and checks
//! every field the source reads, citing the file and lines:
//! - iOS: octomil/octomil-ios@bd482a5, `Sources/Octomil/`;
//! - Android: the SDK's DTO file (`ai/octomil/api/dto`, the only Android source public);
//! - Python: octomil==4.17.42, `site-packages/octomil/`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// An ISO 8601 time without fractions, as iOS's `.iso8601` decoder requires
/// (Client/APIClient.swift:56).
fn assert_plain_iso(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is a string: {value}"));
    assert!(
        text.len() == 20 && text.ends_with('Z') && !text.contains('.'),
        "{what} is ISO 8601 without fractions, got {text}"
    );
}

async fn put(app: &TestApp, path: &str, key: Option<&str>, body: Value) -> crate::helpers::Reply {
    app.send(Method::PUT, path, key, Some(&body.to_string()))
        .await
}

#[tokio::test]
async fn health_answers_at_the_paths_ios_android_and_the_api_prefix_ask() {
    let app = spawn_app().await;
    // iOS `healthCheck()` asks `GET {serverURL}/health` without a key
    // (Client/APIClient+Models.swift:163-173) and requires `status`
    // (APIModels+Server.swift:266-273); Android's `HealthResponse` DTO the same.
    for path in ["/health", "/api/v1/health", "/healthz"] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(reply.body["status"], "ok", "{path}");
        assert!(reply.body["version"].is_string(), "{path}");
    }
}

#[tokio::test]
async fn device_profiles_answer_every_member_ios_requires_with_a_matching_etag() {
    let app = spawn_app().await;
    let device = app.register_device("phone-1").await;
    // DeviceProfileClient.swift:186-215: GET api/v1/devices/profiles, Bearer key; it
    // decodes `DeviceProfileMapping` (10-25): profiles, ttl_seconds, fetched_at and etag
    // are all required members.
    let reply = app.get("/api/v1/devices/profiles", Some(&device.key)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["profiles"], json!({}));
    assert_eq!(reply.body["ttl_seconds"], 86400);
    assert!(reply.body["fetched_at"].is_i64(), "{}", reply.body);
    let etag = reply.body["etag"].as_str().unwrap().to_owned();
    assert_eq!(reply.header("etag"), Some(etag.as_str()));

    let set = put(
        &app,
        "/api/v1/devices/profiles",
        Some(app.secret_key()),
        json!({"profiles": {"iPhone16,1": "iphone_15_pro"}, "ttl_seconds": 3600}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);

    let reply = app.get("/api/v1/devices/profiles", Some(&device.key)).await;
    assert_eq!(
        reply.body["profiles"],
        json!({"iPhone16,1": "iphone_15_pro"})
    );
    assert_eq!(reply.body["ttl_seconds"], 3600);
    assert_ne!(reply.body["etag"], etag, "a new map is a new etag");
    assert_eq!(reply.header("etag"), reply.body["etag"].as_str());
}

#[tokio::test]
async fn device_profiles_refuse_a_bad_map_and_a_key_other_than_the_secret_changing_nothing() {
    let app = spawn_app().await;
    let path = "/api/v1/devices/profiles";
    let too_short = put(
        &app,
        path,
        Some(app.secret_key()),
        json!({"profiles": {}, "ttl_seconds": 5}),
    )
    .await;
    assert!(
        too_short
            .assert_error(400, "bad_request")
            .contains("ttl_seconds")
    );
    let empty_name = put(
        &app,
        path,
        Some(app.secret_key()),
        json!({"profiles": {"": "x"}}),
    )
    .await;
    assert!(
        empty_name
            .assert_error(400, "bad_request")
            .contains("profiles")
    );
    let publishable = put(
        &app,
        path,
        Some(app.publishable_key()),
        json!({"profiles": {"iPhone16,1": "x"}}),
    )
    .await;
    publishable.assert_error(403, "forbidden");

    let reply = app.get(path, Some(app.secret_key())).await;
    assert_eq!(reply.body["profiles"], json!({}));
    assert_eq!(reply.body["ttl_seconds"], 86400);
    assert_eq!(reply.body["updated_at"], Value::Null);
}

#[tokio::test]
async fn a_device_named_profiles_is_still_a_device_by_its_id_and_for_patch() {
    let app = spawn_app().await;
    let device = app.register_device("profiles").await;

    let by_name = app
        .get("/api/v1/devices/profiles", Some(app.secret_key()))
        .await;
    assert!(
        by_name.body["profiles"].is_object(),
        "GET by that name is the profile map"
    );
    let by_id = app.get_device(Some(app.secret_key()), &device.id).await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.body["device_identifier"], "profiles");

    let patched = app
        .send(
            Method::PATCH,
            "/api/v1/devices/profiles",
            Some(app.secret_key()),
            Some(r#"{"labels": {"tier": "beta"}}"#),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["id"], device.id.as_str());
    assert_eq!(patched.body["labels"], json!({"tier": "beta"}));
}

#[tokio::test]
async fn a_devices_groups_are_its_labels_with_every_field_ios_and_android_require() {
    let app = spawn_app().await;
    let labels = |l: Value| json!({"device_identifier": format!("g-{}", l), "labels": l});
    let device = app
        .register_device_with(
            app.secret_key(),
            labels(json!({"region": "eu", "tier": "beta"})),
        )
        .await;
    app.register_device_with(app.secret_key(), labels(json!({"region": "eu"})))
        .await;
    app.register_device_with(app.secret_key(), labels(json!({"region": "us"})))
        .await;

    // APIClient+Devices.swift:42-50: GET api/v1/devices/{id}/groups with the device's
    // token; decodes `DeviceGroupsResponse` (APIModels+Device.swift:254-258) whose
    // `groups` entries require id, name, group_type, is_active, device_count, created_at,
    // updated_at (220-252); Android's `DeviceGroupsResponse` also requires `count`.
    let reply = app
        .get(
            &format!("/api/v1/devices/{}/groups", device.id),
            Some(&device.key),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["count"], 2);
    let groups = reply.body["groups"].as_array().unwrap();
    let region = &groups[0];
    assert_eq!(region["id"], "label:region:eu");
    assert_eq!(region["name"], "region:eu");
    assert_eq!(region["group_type"], "dynamic");
    assert_eq!(region["is_active"], true);
    assert_eq!(region["device_count"], 2);
    assert_eq!(region["tags"], json!(["region"]));
    assert!(region["description"].is_string());
    assert_plain_iso(&region["created_at"], "created_at");
    assert_plain_iso(&region["updated_at"], "updated_at");
    assert_eq!(groups[1]["name"], "tier:beta");
    assert_eq!(groups[1]["device_count"], 1);
}

#[tokio::test]
async fn a_device_without_labels_is_in_no_group_and_another_devices_groups_are_a_404() {
    let app = spawn_app().await;
    let plain = app.register_device("plain").await;
    let other = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "labelled", "labels": {"region": "eu"}}),
        )
        .await;

    let reply = app
        .get(
            &format!("/api/v1/devices/{}/groups", plain.id),
            Some(&plain.key),
        )
        .await;
    assert_eq!(reply.body, json!({"groups": [], "count": 0}));

    let theirs = app
        .get(
            &format!("/api/v1/devices/{}/groups", other.id),
            Some(&plain.key),
        )
        .await;
    theirs.assert_error(404, "not_found");
}

#[tokio::test]
async fn the_device_policy_answers_its_defaults_then_what_the_operator_set() {
    let app = spawn_app().await;
    let device = app.register_device("policy-1").await;
    let path = "/api/v1/settings/org/org_demo/device-policy";

    // APIClient+Devices.swift:69-77: GET api/v1/settings/org/{orgId}/device-policy; it
    // decodes `DevicePolicyResponse` (APIModels+Server.swift:278-294), which requires
    // battery_threshold (an integer) and network_policy; Android's DTO the same.
    let defaults = app.get(path, Some(&device.key)).await;
    assert_eq!(defaults.status, 200, "{}", defaults.body);
    assert_eq!(defaults.body["battery_threshold"], 20);
    assert_eq!(defaults.body["network_policy"], "wifi_only");
    assert_eq!(defaults.body["updated_at"], Value::Null);

    let set = put(
        &app,
        path,
        Some(app.secret_key()),
        json!({"battery_threshold": 35, "network_policy": "any", "training_window": "22:00-06:00"}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);

    for key in [device.key.as_str(), app.publishable_key()] {
        let reply = app.get(path, Some(key)).await;
        assert_eq!(reply.body["battery_threshold"], 35);
        assert_eq!(reply.body["network_policy"], "any");
        assert_eq!(reply.body["training_window"], "22:00-06:00");
        assert_eq!(reply.body["sampling_policy"], Value::Null);
        assert_plain_iso(&reply.body["updated_at"], "updated_at");
    }
    let events = app
        .get(
            "/api/v1/events?type=org.device_policy_updated",
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(
        events.body["events"][0]["data"]["battery_threshold"], 35,
        "{}",
        events.body
    );
}

#[tokio::test]
async fn a_bad_device_policy_or_another_orgs_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let path = "/api/v1/settings/org/org_demo/device-policy";
    let secret = Some(app.secret_key());

    let high = put(&app, path, secret, json!({"battery_threshold": 150})).await;
    assert!(
        high.assert_error(400, "bad_request")
            .contains("battery_threshold")
    );
    let network = put(
        &app,
        path,
        secret,
        json!({"network_policy": "carrier_pigeon"}),
    )
    .await;
    assert!(
        network
            .assert_error(400, "bad_request")
            .contains("network_policy")
    );
    let device = app.register_device("policy-2").await;
    let by_device = put(
        &app,
        path,
        Some(&device.key),
        json!({"battery_threshold": 5}),
    )
    .await;
    by_device.assert_error(403, "forbidden");
    let elsewhere = app
        .get("/api/v1/settings/org/org_other/device-policy", secret)
        .await;
    elsewhere.assert_error(404, "not_found");

    let reply = app.get(path, secret).await;
    assert_eq!(reply.body["battery_threshold"], 20);
    assert_eq!(reply.body["network_policy"], "wifi_only");
    assert_eq!(reply.body["updated_at"], Value::Null);
}

/// The body Python's `StreamingInferenceClient._report_event` sends
/// (python/octomil/inference.py:357-371): device_id, model_id, version, modality,
/// session_id, event_type, timestamp_ms, org_id and, on completion, metrics (ttfc_ms,
/// total_chunks, total_duration_ms, throughput: 184-194). Android's
/// `InferenceEventRequest` DTO has the same members.
fn inference_event(device_id: &str, event_type: &str) -> Value {
    json!({
        "device_id": device_id,
        "model_id": "kbd-next-word",
        "version": "latest",
        "modality": "text",
        "session_id": "5f1c0d2e9a8b4c7d8e9f0a1b2c3d4e5f",
        "event_type": event_type,
        "timestamp_ms": 1_795_640_253_123_i64,
        "org_id": "default",
        "metrics": {"ttfc_ms": 41.5, "total_chunks": 12, "total_duration_ms": 812.0,
            "throughput": 14.8}
    })
}

#[tokio::test]
async fn an_inference_event_is_stored_as_the_devices_telemetry_once() {
    let app = spawn_app().await;
    let device = app.register_device("infer-1").await;
    let body = inference_event(&device.id, "generation_completed");

    let first = app
        .post("/api/v1/inference/events", Some(&device.key), body.clone())
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    // Android's `InferenceEventResponse` requires status and session_id.
    assert_eq!(first.body["status"], "accepted");
    assert_eq!(first.body["session_id"], "5f1c0d2e9a8b4c7d8e9f0a1b2c3d4e5f");
    assert_eq!(first.body["duplicate"], false);
    let again = app
        .post("/api/v1/inference/events", Some(&device.key), body)
        .await;
    assert_eq!(again.body["duplicate"], true);

    let listed = app
        .get(
            &format!("/api/v1/devices/{}/telemetry", device.id),
            Some(app.secret_key()),
        )
        .await;
    let events = listed.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", listed.body);
    assert_eq!(events[0]["event_type"], "inference.generation_completed");
    assert_eq!(events[0]["occurred_at_ms"], 1_795_640_253_123_i64);
    assert_eq!(events[0]["source"], "inference");
    assert_eq!(events[0]["model_id"], "kbd-next-word");
    assert_eq!(events[0]["modality"], "text");
    assert_eq!(events[0]["session_id"], "5f1c0d2e9a8b4c7d8e9f0a1b2c3d4e5f");
    assert_eq!(events[0]["metrics"]["total_chunks"], 12);
}

#[tokio::test]
async fn an_inference_event_with_a_bad_metric_or_an_unknown_device_stores_nothing() {
    let app = spawn_app().await;
    let device = app.register_device("infer-2").await;
    let mut bad = inference_event(&device.id, "generation_completed");
    bad["metrics"]["throughput"] = json!("fast");
    let reply = app
        .post("/api/v1/inference/events", Some(&device.key), bad)
        .await;
    assert!(
        reply
            .assert_error(400, "bad_request")
            .contains("metrics.throughput")
    );
    let unknown = app
        .post(
            "/api/v1/inference/events",
            Some(app.secret_key()),
            inference_event("no-such-device", "generation_started"),
        )
        .await;
    unknown.assert_error(404, "not_found");

    let listed = app
        .get(
            &format!("/api/v1/devices/{}/telemetry", device.id),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(listed.body["events"], json!([]));
}
