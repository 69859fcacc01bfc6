//! The contract's error rules: JSON everywhere, request ids, bad input changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;
use crate::redact;

#[tokio::test]
async fn unknown_routes_are_a_json_404() {
    let app = spawn_app().await;

    let reply = app
        .send(Method::GET, "/api/v1/nothing-here", None, None)
        .await;

    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let request_id = reply.header("x-request-id").expect("X-Request-Id header");
    insta::assert_json_snapshot!(reply.body, {
        ".request_id" => redact::is(request_id, "[X-Request-Id]"),
    });
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_is_a_json_405_with_allow() {
    let app = spawn_app().await;

    let reply = app
        .send(
            Method::PUT,
            "/api/v1/devices/laptop-001",
            Some(app.secret_key()),
            None,
        )
        .await;
    let on_list = app
        .send(Method::POST, "/api/v1/devices", None, Some("{}"))
        .await;

    reply.assert_error(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET, HEAD, PATCH, DELETE"));
    on_list.assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn every_response_carries_a_distinct_request_id() {
    let app = spawn_app().await;

    let ok = app.send(Method::GET, "/healthz", None, None).await;
    let error = app.send(Method::GET, "/nope", None, None).await;

    let (a, b) = (
        ok.header("x-request-id").unwrap(),
        error.header("x-request-id").unwrap(),
    );
    assert!(!a.is_empty() && !b.is_empty());
    assert_ne!(a, b);
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_stores_nothing() {
    let app = spawn_app().await;
    let padding = "x".repeat(70 * 1024);

    let reply = app
        .register(
            None,
            json!({"device_id": "big", "capabilities": {"padding": padding}}),
        )
        .await;

    reply.assert_error(413, "payload_too_large");
    assert_eq!(app.device_count().await, 0);
}

#[tokio::test]
async fn json_is_parsed_whatever_the_content_type() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/api/v1/devices/register"))
        .header("content-type", "text/plain")
        .body(r#"{"device_id": "plain-1"}"#)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn bad_registrations_are_400_naming_the_problem_and_store_nothing() {
    let app = spawn_app().await;
    let long = "a".repeat(256);
    let cases: Vec<(String, &str)> = vec![
        ("{\"device_id\": ".to_owned(), "not valid JSON"),
        ("[]".to_owned(), "must be a JSON object"),
        ("\"laptop\"".to_owned(), "must be a JSON object"),
        (String::new(), "device_id is required"),
        ("{}".to_owned(), "device_id is required"),
        (
            json!({"platform": "ios"}).to_string(),
            "device_id is required",
        ),
        (json!({"device_id": 42}).to_string(), "device_id"),
        (
            json!({"device_id": ""}).to_string(),
            "device_id must be 1 to 255 characters, got 0",
        ),
        (
            json!({"device_id": long}).to_string(),
            "device_id must be 1 to 255 characters, got 256",
        ),
        (
            json!({"device_id": "a/b"}).to_string(),
            "device_id must not contain '/'",
        ),
        (
            json!({"device_id": "tab\there"}).to_string(),
            "device_id must not contain control characters",
        ),
        (
            json!({"device_identifier": ""}).to_string(),
            "device_identifier",
        ),
        (
            json!({"device_id": "ok", "platform": "iOS"}).to_string(),
            "platform must be a lowercase token",
        ),
        (
            json!({"device_id": "ok", "platform": 3}).to_string(),
            "platform",
        ),
        (
            json!({"device_id": "ok", "capabilities": "fast"}).to_string(),
            "capabilities must be a JSON object, got a string",
        ),
        (
            json!({"device_id": "ok", "capabilities": [1]}).to_string(),
            "capabilities must be a JSON object, got an array",
        ),
        (
            json!({"device_id": "ok", "org_id": 7}).to_string(),
            "org_id",
        ),
        (
            json!({"device_id": "ok", "metadata": 7}).to_string(),
            "metadata must be a JSON object",
        ),
    ];

    for (body, expected) in &cases {
        let reply = app
            .send(Method::POST, "/api/v1/devices/register", None, Some(body))
            .await;
        let message = reply.assert_error(400, "bad_request");
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_eq!(app.device_count().await, 0);
}

#[tokio::test]
async fn an_identifier_of_exactly_255_characters_is_accepted() {
    let app = spawn_app().await;

    let reply = app
        .register(None, json!({"device_id": "é".repeat(255)}))
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn null_optional_fields_mean_absent() {
    let app = spawn_app().await;

    let reply = app
        .register(
            None,
            json!({"device_id": "n-1", "platform": null, "capabilities": null, "org_id": null}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["platform"], "python");
    assert_eq!(reply.body["capabilities"], json!({}));
}

#[tokio::test]
async fn server_owned_fields_in_a_body_are_ignored() {
    let app = spawn_app().await;

    let reply = app
        .register(
            None,
            json!({"device_id": "m-1", "id": "chosen-id", "status": "inactive", "api_key": "edg_dev_mine", "created_at": "2000-01-01T00:00:00Z"}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED);
    assert_ne!(reply.body["id"], "chosen-id");
    assert_eq!(reply.body["status"], "active");
    assert_ne!(reply.body["api_key"], "edg_dev_mine");
    assert_ne!(reply.body["created_at"], "2000-01-01T00:00:00Z");
}
