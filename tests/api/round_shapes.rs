//! Training rounds in the shape iOS and Android decode (issue 27, item 4): `listRounds`
//! and `getRound` of octomil-ios@bd482a5 (Sources/Octomil/Client/APIClient+Training.swift:
//! 13-50) decode a bare array of `RoundAssignment` and one, whose members
//! (Client/APIModels+Server.swift:191-256) are all required but `dp_epsilon`,
//! `dp_delta`, `secagg_threshold`, `client_selection_started_at` and
//! `aggregation_completed_at`; Android's `RoundsListResponse`/`RoundAssignment` DTOs take
//! the bare array too and require the same members.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{MODEL, VERSION};
use crate::helpers::{Reply, TestApp, spawn_app};

async fn as_ios(app: &TestApp, path: &str, key: &str) -> Reply {
    let response = app
        .client
        .request(Method::GET, app.url(path))
        .bearer_auth(key)
        .header("user-agent", "octomil-ios/1.0") // Client/APIClient.swift:279
        .send()
        .await
        .unwrap();
    crate::helpers::read(response).await
}

fn assert_assignment(round: &Value) {
    for field in [
        "id",
        "org_id",
        "model_id",
        "version_id",
        "state",
        "client_selection_strategy",
        "aggregation_type",
        "created_at",
    ] {
        assert!(round[field].is_string(), "{field}: {round}");
    }
    for field in [
        "min_clients",
        "max_clients",
        "timeout_minutes",
        "selected_client_count",
        "received_update_count",
    ] {
        assert!(round[field].is_i64(), "{field}: {round}");
    }
    for field in ["differential_privacy", "secure_aggregation"] {
        assert!(round[field].is_boolean(), "{field}: {round}");
    }
    let created = round["created_at"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && !created.contains('.'),
        "iOS dates: {created}"
    );
}

#[tokio::test]
async fn ios_lists_and_gets_rounds_as_bare_round_assignments_of_its_model() {
    let app = spawn_app().await;
    let round = app
        .start_round_on_model(json!({"min_devices": 3, "deadline_seconds": 3600}))
        .await;
    app.start_round_ok(json!({})).await; // a round of no model
    let device = app.register_device("ios-rounds").await;

    let path = format!(
        "/api/v1/training/rounds?model_id={MODEL}&state=waiting_for_updates&device_id={}",
        device.id
    );
    let listed = as_ios(&app, &path, &device.key).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let rounds = listed.body.as_array().expect("a bare array");
    assert_eq!(rounds.len(), 1, "only the model's round: {}", listed.body);
    let first = &rounds[0];
    assert_assignment(first);
    assert_eq!(first["id"], round.id.as_str());
    assert_eq!(first["model_id"], MODEL);
    assert_eq!(first["version_id"], VERSION);
    assert_eq!(first["state"], "waiting_for_updates");
    assert_eq!(first["min_clients"], 3);
    assert_eq!(first["timeout_minutes"], 60);
    assert_eq!(first["received_update_count"], 0);

    let one = as_ios(
        &app,
        &format!("/api/v1/training/rounds/{}", round.id),
        &device.key,
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_assignment(&one.body);
    assert_eq!(one.body["id"], round.id.as_str());
}

#[tokio::test]
async fn android_gets_the_same_shape_by_its_org_header_and_the_operator_keeps_the_page() {
    let app = spawn_app().await;
    let round = app.start_round_on_model(json!({})).await;
    let device = app.register_device("android-rounds").await;

    let response = app
        .client
        .get(app.url("/api/v1/training/rounds"))
        .bearer_auth(&device.key)
        .header("x-org-id", "org_demo")
        .send()
        .await
        .unwrap();
    let listed = crate::helpers::read(response).await;
    let rounds = listed.body.as_array().expect("a bare array");
    assert_assignment(&rounds[0]);
    assert_eq!(rounds[0]["id"], round.id.as_str());
    let response = app
        .client
        .get(app.url(&format!("/api/v1/training/rounds/{}", round.id)))
        .bearer_auth(&device.key)
        .header("x-org-id", "org_demo")
        .send()
        .await
        .unwrap();
    let one = crate::helpers::read(response).await;
    assert_assignment(&one.body);

    let page = app
        .get("/api/v1/training/rounds", Some(app.secret_key()))
        .await;
    assert!(page.body["rounds"].is_array(), "{}", page.body);
    assert_eq!(page.body["total"], 1);
}

#[tokio::test]
async fn an_unknown_state_is_a_400() {
    let app = spawn_app().await;
    let device = app.register_device("ios-bad-state").await;
    let reply = as_ios(&app, "/api/v1/training/rounds?state=sleeping", &device.key).await;
    assert!(reply.assert_error(400, "bad_request").contains("state"));
}
