//! The test clock: an ephemeral server's time moves forward on request, and what it
//! writes carries that time.

use devreg::domain::Timestamp;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn advancing_the_clock_moves_the_time_a_registration_records() {
    let app = spawn_app().await;
    let before = app.send(Method::GET, "/_devreg/clock", None, None).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.body["offset_seconds"], 0);

    let moved = app
        .send(
            Method::POST,
            "/_devreg/clock",
            None,
            Some(&json!({"advance_seconds": 86_400}).to_string()),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["offset_seconds"], 86_400);

    let device = app.register(None, json!({"device_id": "clocked"})).await;
    let created = Timestamp::parse_rfc3339(device.body["created_at"].as_str().unwrap()).unwrap();
    let wall = devreg::domain::now();
    assert!(
        (created.0 - wall.0 - 86_400).abs() <= 2,
        "created_at {} is a day ahead of the wall clock",
        device.body["created_at"]
    );
}

#[tokio::test]
async fn the_clock_moves_to_a_time_but_never_back() {
    let app = spawn_app().await;
    let ahead = Timestamp(devreg::domain::now().0 + 3_600);
    let moved = app
        .send(
            Method::POST,
            "/_devreg/clock",
            None,
            Some(&json!({"now": ahead.to_rfc3339()}).to_string()),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(moved.body["now"], ahead.to_rfc3339());

    let back = app
        .send(
            Method::POST,
            "/_devreg/clock",
            None,
            Some(&json!({"now": "2020-01-01T00:00:00Z"}).to_string()),
        )
        .await;
    assert!(back.assert_error(409, "conflict").contains("forward"));
    let both = app
        .send(
            Method::POST,
            "/_devreg/clock",
            None,
            Some(&json!({"now": ahead.to_rfc3339(), "advance_seconds": 1}).to_string()),
        )
        .await;
    both.assert_error(400, "bad_request");
    let after = app.send(Method::GET, "/_devreg/clock", None, None).await;
    assert_eq!(
        after.body["now"],
        ahead.to_rfc3339(),
        "refusals moved nothing"
    );
}

#[tokio::test]
async fn test_server_moves_the_same_clock_from_rust() {
    let app = spawn_app().await;
    let start = app.server.now();
    app.server.advance_clock(120);
    let reading = app.send(Method::GET, "/_devreg/clock", None, None).await;
    let now = Timestamp::parse_rfc3339(reading.body["now"].as_str().unwrap()).unwrap();
    assert!(now.0 - start.0 >= 120);
}

#[tokio::test]
async fn a_server_that_is_not_ephemeral_has_no_clock_route() {
    let app = spawn_app_with(|c| c.ephemeral = false).await;
    let reply = app.send(Method::GET, "/_devreg/clock", None, None).await;
    reply.assert_error(404, "not_found");
}
