use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;
use crate::redact;

#[tokio::test]
async fn heartbeat_returns_the_superset_response_and_records_the_snapshot() {
    let app = spawn_app().await;
    let device = app.register_device("laptop-001").await;

    let reply = app
        .heartbeat(
            Some(&device.key),
            "laptop-001",
            Some(json!({"status": "active", "metrics": {"cpu_usage_percent": 42.5, "battery_level": 85}})),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let beat = reply.body["last_heartbeat"].as_str().unwrap();
    insta::assert_json_snapshot!(reply.body, {
        ".id" => redact::is(&device.id, "[device.id]"),
        ".last_heartbeat" => redact::time(),
        ".server_time" => redact::time(),
    });

    let stored = app.get_device(Some(&device.key), &device.id).await;
    assert_eq!(stored.body["last_heartbeat"], beat);
    assert_eq!(
        stored.body["metrics"],
        json!({"cpu_usage_percent": 42.5, "battery_level": 85})
    );
    let listed = app.list(Some(app.secret_key()), "org_id=org_demo").await;
    assert_eq!(listed.body["devices"][0]["last_seen_at"], beat);
}

#[tokio::test]
async fn heartbeat_by_post_with_an_empty_body_defaults_to_active() {
    let app = spawn_app().await;
    let device = app.register_device("py-1").await;

    let reply = app
        .send(
            Method::POST,
            &format!("/api/v1/devices/{}/heartbeat", device.id),
            Some(&device.key),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "active");
    let stored = app.get_device(Some(&device.key), &device.id).await;
    assert_eq!(stored.body["metrics"], json!({}));
}

#[tokio::test]
async fn heartbeat_inactive_sets_the_device_status() {
    let app = spawn_app().await;
    let device = app.register_device("tab-1").await;

    let reply = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"status": "inactive"})),
        )
        .await;

    assert_eq!(reply.body["status"], "inactive");
    let listed = app
        .list(Some(app.secret_key()), "org_id=org_demo&status=inactive")
        .await;
    assert_eq!(listed.body["total"], 1);
}

#[tokio::test]
async fn sdk_telemetry_joins_the_metrics_and_versions_update_the_metadata() {
    let app = spawn_app().await;
    let device = app
        .register_device_with(
            app.publishable_key(),
            json!({"device_identifier": "ios-1", "platform": "ios", "sdk_version": "1.0.0"}),
        )
        .await;

    let reply = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({
                "battery_pct": 77,
                "charging": true,
                "thermal_state": "nominal",
                "metadata": {"network_type": "wifi"},
                "metrics": {"inference_ms": 12},
                "sdk_version": "1.1.0",
                "unknown_field": "ignored"
            })),
        )
        .await;
    let stored = app.get_device(Some(&device.key), &device.id).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        stored.body["metrics"],
        json!({"network_type": "wifi", "battery_pct": 77, "charging": true, "thermal_state": "nominal", "inference_ms": 12})
    );
    assert_eq!(stored.body["metadata"]["sdk_version"], "1.1.0");
}

#[tokio::test]
async fn each_heartbeat_replaces_the_previous_snapshot() {
    let app = spawn_app().await;
    let device = app.register_device("r-1").await;

    app.heartbeat(
        Some(&device.key),
        &device.id,
        Some(json!({"metrics": {"a": 1}})),
    )
    .await;
    app.heartbeat(
        Some(&device.key),
        &device.id,
        Some(json!({"metrics": {"b": 2}})),
    )
    .await;
    let stored = app.get_device(Some(&device.key), &device.id).await;

    assert_eq!(stored.body["metrics"], json!({"b": 2}));
}

#[tokio::test]
async fn heartbeat_with_bad_fields_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let device = app.register_device("b-1").await;

    let bad_status = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"status": "sleeping"})),
        )
        .await;
    let bad_metrics = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"metrics": [1, 2]})),
        )
        .await;
    let bad_json = app
        .send(
            Method::PUT,
            &format!("/api/v1/devices/{}/heartbeat", device.id),
            Some(&device.key),
            Some("{\"status\":"),
        )
        .await;

    assert!(
        bad_status
            .assert_error(400, "bad_request")
            .contains("status")
    );
    assert!(
        bad_metrics
            .assert_error(400, "bad_request")
            .contains("metrics")
    );
    assert!(bad_json.assert_error(400, "bad_request").contains("JSON"));
    let stored = app.get_device(Some(&device.key), &device.id).await;
    assert!(stored.body["last_heartbeat"].is_null());
    assert_eq!(stored.body["status"], "active");
}

#[tokio::test]
async fn heartbeat_of_an_unknown_device_is_404() {
    let app = spawn_app().await;

    let reply = app.heartbeat(Some(app.secret_key()), "ghost", None).await;

    reply.assert_error(404, "not_found");
}
