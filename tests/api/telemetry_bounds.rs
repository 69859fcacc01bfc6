//! Retention bounds everything a device can add through telemetry, not only its events:
//! the OTLP resources and event types it sends are pruned with its events, and go with it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with, spawn_sqlite_app_with};

const OTLP: &str = "/api/v2/telemetry/events";

/// OTLP logs under a resource of its own (`run`), one record per event type.
fn otlp(run: usize, types: &[String]) -> Value {
    let records: Vec<Value> = types
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "timeUnixNano": format!("{}", 1_771_864_200_000_000_000u64 + (run * 10 + i) as u64 * 1_000_000),
                "body": {"stringValue": name},
            })
        })
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "octomil"}},
            {"key": "run", "value": {"intValue": run.to_string()}}
        ]},
        "scopeLogs": [{"scope": {"name": "octomil.inference"}, "logRecords": records}]
    }]})
}

/// Sends 40 batches of two events, each batch under a new resource with two new types.
async fn flood(app: &TestApp, key: &str) {
    for run in 0..40 {
        let types = [format!("type-{run}-a"), format!("type-{run}-b")];
        let reply = app
            .send(
                Method::POST,
                OTLP,
                Some(key),
                Some(&otlp(run, &types).to_string()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

#[tokio::test]
async fn unique_resources_and_event_types_are_bounded_by_the_device_retention() {
    let app = spawn_app_with(|c| c.telemetry_per_device = 10).await;
    let device = app.register_device("flooder").await;
    flood(&app, &device.key).await;

    assert!(
        app.count_rows("telemetry_resources") <= 10,
        "resource rows: {}",
        app.count_rows("telemetry_resources")
    );
    assert!(
        app.count_rows("telemetry_type_counts") <= 10,
        "per-type rows: {}",
        app.count_rows("telemetry_type_counts")
    );
    let reply = app.get_device(Some(app.secret_key()), &device.id).await;
    let summary = &reply.body["telemetry"];
    assert_eq!(
        (summary["received"].as_i64(), summary["stored"].as_i64()),
        (Some(80), Some(10))
    );
    let by_type = summary["by_type"].as_object().unwrap();
    assert_eq!(by_type.len(), 10, "{by_type:?}");
    assert!(by_type.contains_key("type-39-b") && !by_type.contains_key("type-34-b"));

    // What is kept still lists with its resource and type.
    let listed = app
        .send(
            Method::GET,
            &format!("/api/v1/devices/{}/telemetry", device.id),
            Some(app.secret_key()),
            None,
        )
        .await;
    let events = listed.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 10);
    let last = events.last().unwrap();
    assert_eq!(last["event_type"], "type-39-b");
    assert_eq!(last["resource"]["run"], 39, "{last}");
    assert_eq!(events[0]["event_type"], "type-35-a");
    assert_eq!(events[0]["resource"]["run"], 35, "{}", events[0]);
}

#[tokio::test]
async fn event_type_names_go_with_their_last_events_and_with_the_device() {
    let app = spawn_sqlite_app_with(|c| c.telemetry_per_device = 10).await;
    let keeper = app.register_device("keeper").await;
    let kept = ["shared-type".to_owned()];
    let reply = app
        .send(
            Method::POST,
            OTLP,
            Some(&keeper.key),
            Some(&otlp(0, &kept).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let device = app.register_device("flooder").await;
    let reply = app
        .send(
            Method::POST,
            OTLP,
            Some(&device.key),
            Some(&otlp(0, &kept).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    flood(&app, &device.key).await;
    assert!(
        app.count_rows("telemetry_types") <= 11,
        "type names: {}",
        app.count_rows("telemetry_types")
    );

    let deleted = app
        .send(
            Method::DELETE,
            &format!("/api/v1/devices/{}", device.id),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    assert_eq!(
        app.count_rows("telemetry_resources"),
        1,
        "the keeper's only"
    );
    assert_eq!(
        app.count_rows("telemetry_types"),
        1,
        "the keeper's type stays"
    );
    let listed = app
        .send(
            Method::GET,
            &format!("/api/v1/devices/{}/telemetry", keeper.id),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(listed.body["events"][0]["event_type"], "shared-type");
}
