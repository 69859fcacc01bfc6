//! Device tokens, hardened: a refresh whose answer was lost can be retried once within a
//! grace period without revoking the family, and a bootstrap token cannot take over a
//! device that is already registered.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};
use crate::tokens::{refresh, text};

async fn mint(app: &TestApp) -> String {
    let reply = app
        .post(
            "/api/v1/device-auth/bootstrap-tokens",
            Some(app.secret_key()),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["token"].as_str().unwrap().to_owned()
}

async fn bootstrap(app: &TestApp, body: Value) -> Reply {
    let token = mint(app).await;
    app.post("/api/v1/device-auth/bootstrap", Some(&token), body)
        .await
}

/// Bootstraps a new device `identifier`; panics unless 200.
async fn tokens_for(app: &TestApp, identifier: &str) -> Value {
    let reply = bootstrap(app, json!({"device_identifier": identifier})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn works(app: &TestApp, access: &str, identifier: &str) -> bool {
    app.get_device(Some(access), identifier).await.status == StatusCode::OK
}

#[tokio::test]
async fn a_refresh_retried_within_the_grace_period_gets_a_pair_that_supersedes_the_lost_one() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "phone").await;
    let lost = refresh(&app, text(&first, "refresh_token")).await;
    assert_eq!(lost.status, StatusCode::OK, "{}", lost.body);
    app.server.advance_clock(30);

    let retry = refresh(&app, text(&first, "refresh_token")).await;

    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    let second = retry.body;
    assert_ne!(second["refresh_token"], lost.body["refresh_token"]);
    assert!(works(&app, text(&second, "access_token"), "phone").await);
    // The pair the client never saw is superseded.
    assert!(!works(&app, text(&lost.body, "access_token"), "phone").await);
    // The family lives on: the retry's refresh token rotates as any.
    let third = refresh(&app, text(&second, "refresh_token")).await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
    assert!(works(&app, text(&third.body, "access_token"), "phone").await);
}

#[tokio::test]
async fn a_second_retry_within_the_grace_period_revokes_the_family() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "phone").await;
    refresh(&app, text(&first, "refresh_token")).await;
    let second = refresh(&app, text(&first, "refresh_token")).await.body;

    let message = refresh(&app, text(&first, "refresh_token"))
        .await
        .assert_error(401, "unauthorized")
        .to_owned();

    assert!(message.contains("already used"), "{message}");
    assert!(!works(&app, text(&second, "access_token"), "phone").await);
    refresh(&app, text(&second, "refresh_token"))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn a_retry_after_the_grace_period_revokes_the_family() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "phone").await;
    let second = refresh(&app, text(&first, "refresh_token")).await.body;
    app.server.advance_clock(61);

    refresh(&app, text(&first, "refresh_token"))
        .await
        .assert_error(401, "unauthorized");

    assert!(!works(&app, text(&second, "access_token"), "phone").await);
    refresh(&app, text(&second, "refresh_token"))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn a_retry_after_the_successor_was_used_revokes_the_family() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "phone").await;
    app.server.advance_clock(1);
    let second = refresh(&app, text(&first, "refresh_token")).await.body;
    app.server.advance_clock(1);
    let third = refresh(&app, text(&second, "refresh_token")).await.body;
    app.server.advance_clock(1);

    refresh(&app, text(&first, "refresh_token"))
        .await
        .assert_error(401, "unauthorized");

    assert!(!works(&app, text(&third, "access_token"), "phone").await);
}

#[tokio::test]
async fn bootstrapping_a_device_registered_with_its_key_is_409_naming_it() {
    let app = spawn_app().await;
    let device = app.register_device("kiosk").await;

    for body in [
        json!({"device_identifier": "kiosk"}),
        json!({"device_id": device.id}),
        json!({"device_id": "kiosk"}),
    ] {
        let message = bootstrap(&app, body)
            .await
            .assert_error(409, "conflict")
            .to_owned();
        assert!(message.contains("kiosk"), "{message}");
        assert!(message.contains("/keys"), "{message}");
    }
    assert!(works(&app, &device.key, "kiosk").await);
}

#[tokio::test]
async fn bootstrapping_a_device_an_earlier_bootstrap_registered_is_409() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "phone").await;
    let token = mint(&app).await;

    app.post(
        "/api/v1/device-auth/bootstrap",
        Some(&token),
        json!({"device_identifier": "phone"}),
    )
    .await
    .assert_error(409, "conflict");

    // The refused bootstrap used none of the token: it still registers a new device.
    let reply = app
        .post(
            "/api/v1/device-auth/bootstrap",
            Some(&token),
            json!({"device_identifier": "tablet"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(works(&app, text(&first, "access_token"), "phone").await);
}
