//! Test control and CORS: `POST /_devreg/reset` in ephemeral mode only, and browser
//! preflights for every endpoint.

use std::io::Write;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Reply, TestApp, read, spawn_app, spawn_app_with};

const SEED: &str = r#"{
  "orgs": [
    {
      "id": "org_acme",
      "secret_key": "edg_live_AcmeSecretKey0123456789abcdef",
      "devices": [
        {"device_id": "laptop-001", "api_key": "edg_dev_Laptop001DeviceKey0123456789"}
      ]
    },
    {"id": "org_demo", "devices": [{"device_id": "demo-phone", "platform": "ios"}]}
  ]
}"#;
const ACME_SECRET: &str = "edg_live_AcmeSecretKey0123456789abcdef";

async fn spawn_seeded_app() -> (TestApp, tempfile::NamedTempFile) {
    let mut seed = tempfile::NamedTempFile::new().unwrap();
    seed.write_all(SEED.as_bytes()).unwrap();
    let path = seed.path().to_owned();
    (spawn_app_with(|c| c.seed = Some(path)).await, seed)
}

async fn total(app: &TestApp, key: &str, org: &str) -> u64 {
    let reply = app.list(Some(key), &format!("org_id={org}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["total"].as_u64().unwrap()
}

#[tokio::test]
async fn reset_returns_every_org_to_its_seeded_state() {
    let (app, _seed) = spawn_seeded_app().await;
    app.register_device("extra-demo").await;
    app.register_device_with(ACME_SECRET, json!({ "device_id": "extra-acme" }))
        .await;
    assert_eq!(total(&app, app.secret_key(), "org_demo").await, 2);

    let reply = app.send(Method::POST, "/_devreg/reset", None, None).await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(total(&app, app.secret_key(), "org_demo").await, 1);
    assert_eq!(total(&app, ACME_SECRET, "org_acme").await, 1);
    // The seeded device's known key works again after the reset.
    let beat = app
        .heartbeat(
            Some("edg_dev_Laptop001DeviceKey0123456789"),
            "laptop-001",
            None,
        )
        .await;
    assert_eq!(beat.status, StatusCode::OK);
}

#[tokio::test]
async fn reset_of_one_org_leaves_the_others_alone() {
    let (app, _seed) = spawn_seeded_app().await;
    let demo_device = app.register_device("extra-demo").await;
    app.register_device_with(ACME_SECRET, json!({ "device_id": "extra-acme" }))
        .await;

    let reply = app
        .send(Method::POST, "/_devreg/reset?org_id=org_acme", None, None)
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["org_id"], "org_acme");
    assert_eq!(total(&app, ACME_SECRET, "org_acme").await, 1);
    assert_eq!(total(&app, app.secret_key(), "org_demo").await, 2);
    let beat = app
        .heartbeat(Some(&demo_device.key), &demo_device.id, None)
        .await;
    assert_eq!(beat.status, StatusCode::OK);
}

#[tokio::test]
async fn reset_removes_training_rounds_and_their_participants() {
    let (app, _seed) = spawn_seeded_app().await;
    let device = app.register_device("joiner").await;
    let round = app.start_round_ok(json!({})).await;
    let joined = app.join_round(Some(&device.key), &round.id, None).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let acme_round = app.start_round_in(ACME_SECRET, json!({})).await;

    let one_org = app
        .send(Method::POST, "/_devreg/reset?org_id=org_demo", None, None)
        .await;
    let demo_rounds = app
        .list_rounds(Some(app.secret_key()), "org_id=org_demo")
        .await;
    let acme_kept = app.get_round(Some(ACME_SECRET), &acme_round.id).await;
    let everything = app.send(Method::POST, "/_devreg/reset", None, None).await;
    let acme_rounds = app.list_rounds(Some(ACME_SECRET), "org_id=org_acme").await;

    assert_eq!(one_org.status, StatusCode::OK, "{}", one_org.body);
    assert_eq!(demo_rounds.body["total"], 0, "{}", demo_rounds.body);
    assert_eq!(acme_kept.status, StatusCode::OK, "{}", acme_kept.body);
    assert_eq!(everything.status, StatusCode::OK, "{}", everything.body);
    assert_eq!(acme_rounds.body["total"], 0, "{}", acme_rounds.body);
    // Numbering starts again from 1, as on a fresh server.
    assert_eq!(app.start_round_ok(json!({})).await.number, 1);
}

#[tokio::test]
async fn reset_of_an_unknown_org_is_a_404() {
    let app = spawn_app().await;

    let reply = app
        .send(Method::POST, "/_devreg/reset?org_id=org_nope", None, None)
        .await;

    reply.assert_error(404, "not_found");
}

#[tokio::test]
async fn reset_does_not_exist_outside_ephemeral_mode() {
    let app = spawn_app_with(|c| c.ephemeral = false).await;
    app.register_device("kept").await;

    let reply = app.send(Method::POST, "/_devreg/reset", None, None).await;

    reply.assert_error(404, "not_found");
    assert_eq!(app.device_count().await, 1);
}

#[tokio::test]
async fn reset_answers_other_methods_with_405() {
    let app = spawn_app().await;

    let reply = app.send(Method::GET, "/_devreg/reset", None, None).await;

    reply.assert_error(405, "method_not_allowed");
}

/// Sends a CORS preflight for `method path` from `origin`.
async fn preflight(app: &TestApp, method: &str, path: &str, origin: &str) -> Reply {
    let response = app
        .client
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-api-key",
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/v1/devices/register"),
    ("GET", "/api/v1/devices?org_id=org_demo"),
    ("GET", "/api/v1/devices/laptop-001"),
    ("PUT", "/api/v1/devices/laptop-001/heartbeat"),
    ("POST", "/api/v1/devices/laptop-001/heartbeat"),
    ("POST", "/api/v1/training/rounds"),
    ("GET", "/api/v1/training/rounds?org_id=org_demo"),
    ("GET", "/api/v1/training/rounds/1"),
    ("POST", "/api/v1/training/rounds/1/join"),
    ("POST", "/api/v1/training/rounds/1/complete"),
    ("POST", "/api/v1/training/rounds/1/cancel"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/_devreg/reset"),
];

#[tokio::test]
async fn ephemeral_mode_answers_preflights_for_every_endpoint_from_any_origin() {
    let app = spawn_app().await;

    for (method, path) in ENDPOINTS {
        let reply = preflight(&app, method, path, "http://localhost:5173").await;

        assert_eq!(reply.status, StatusCode::OK, "{method} {path}");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            Some("http://localhost:5173"),
            "{method} {path}"
        );
        let methods = reply.header("access-control-allow-methods").unwrap();
        assert!(methods.contains(method), "{method} {path}: {methods}");
        let headers = reply.header("access-control-allow-headers").unwrap();
        assert!(headers.contains("authorization"), "{headers}");
        assert!(reply.header("x-request-id").is_some(), "{method} {path}");
        assert_eq!(reply.body, serde_json::json!({}), "every response is JSON");
    }
}

#[tokio::test]
async fn cors_headers_are_on_successes_and_on_json_errors() {
    let app = spawn_app().await;
    let origin = "http://localhost:3000";

    let ok = read(
        app.client
            .get(app.url("/healthz"))
            .header("origin", origin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let refused = read(
        app.client
            .get(app.url("/api/v1/devices?org_id=org_demo"))
            .header("origin", origin)
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("access-control-allow-origin"), Some(origin));
    refused.assert_error(401, "unauthorized");
    assert_eq!(refused.header("access-control-allow-origin"), Some(origin));
    let exposed = refused.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("x-request-id"), "{exposed}");
}

#[tokio::test]
async fn configured_origins_are_the_only_ones_allowed() {
    let app = spawn_app_with(|c| {
        c.ephemeral = false;
        c.cors_origins = vec!["https://app.example.com".to_owned()];
    })
    .await;

    let allowed = preflight(
        &app,
        "POST",
        "/api/v1/devices/register",
        "https://app.example.com",
    )
    .await;
    let refused = preflight(
        &app,
        "POST",
        "/api/v1/devices/register",
        "https://evil.example.com",
    )
    .await;
    let plain = read(
        app.client
            .get(app.url("/healthz"))
            .header("origin", "https://evil.example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    refused.assert_error(400, "bad_request");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    // A request from another origin is served; without the header the browser hides it.
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn without_cors_a_preflight_is_a_json_405() {
    let app = spawn_app_with(|c| c.ephemeral = false).await;

    let reply = preflight(
        &app,
        "POST",
        "/api/v1/devices/register",
        "http://localhost:3000",
    )
    .await;

    reply.assert_error(405, "method_not_allowed");
    assert_eq!(reply.header("access-control-allow-origin"), None);
}
