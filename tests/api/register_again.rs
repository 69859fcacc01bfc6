//! Registering again (docs/api.md, "Registering again"): the same installation or the
//! device's own credential gets the existing device; anyone else keeps the 409.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

const INSTALLATION: &str = "5f0c6e1a-2b7d-4c39-9e8f-0a1b2c3d4e5f";

async fn first_launch(app: &TestApp) -> (String, String) {
    let first = app
        .register(
            Some(app.publishable_key()),
            json!({"device_identifier": INSTALLATION, "installation_id": INSTALLATION,
                   "platform": "python"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    (
        first.body["id"].as_str().unwrap().to_owned(),
        first.body["api_key"].as_str().unwrap().to_owned(),
    )
}

async fn reregistered_events(app: &TestApp) -> Vec<serde_json::Value> {
    let events = app
        .get(
            "/api/v1/events?org_id=org_demo&type=device.reregistered",
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    events.body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_same_installation_gets_its_device_and_a_new_key_and_the_old_one_is_revoked() {
    let app = spawn_app().await;
    let (id, old_key) = first_launch(&app).await;

    let again = app
        .register(
            Some(app.publishable_key()),
            json!({"device_identifier": INSTALLATION, "installation_id": INSTALLATION,
                   "platform": "python"}),
        )
        .await;

    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], id.as_str());
    let new_key = again.body["access_token"].as_str().unwrap();
    assert_eq!(again.body["api_key"], new_key);
    assert_ne!(new_key, old_key);
    assert!(
        again.body.get("expires_at").is_none(),
        "the Python SDK's float()"
    );
    assert_eq!(
        app.get_device(Some(new_key), &id).await.status,
        StatusCode::OK
    );
    app.get_device(Some(&old_key), &id)
        .await
        .assert_error(401, "unauthorized");
    let events = reregistered_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["device_id"], id.as_str());
    assert_eq!(events[0]["data"]["proof"], "installation_id");
    assert_eq!(events[0]["data"]["revoked_keys"], 1);
    assert_eq!(app.device_count().await, 1);
}

#[tokio::test]
async fn another_installation_no_installation_or_the_secret_key_get_409_and_change_nothing() {
    let app = spawn_app().await;
    let (id, key) = first_launch(&app).await;
    for (credential, body) in [
        (
            app.publishable_key(),
            json!({"device_identifier": INSTALLATION, "installation_id": "another"}),
        ),
        (
            app.publishable_key(),
            json!({"device_identifier": INSTALLATION}),
        ),
        (
            app.secret_key(),
            json!({"device_identifier": INSTALLATION, "installation_id": INSTALLATION}),
        ),
    ] {
        let refused = app.register(Some(credential), body.clone()).await;
        refused.assert_error(409, "conflict");
    }
    assert_eq!(app.get_device(Some(&key), &id).await.status, StatusCode::OK);
    assert!(reregistered_events(&app).await.is_empty());
}

#[tokio::test]
async fn a_device_credential_registers_its_own_device_only_and_keeps_its_key() {
    let app = spawn_app().await;
    let device = app.register_device("kiosk-7").await;

    let again = app
        .register(Some(&device.key), json!({"device_identifier": "kiosk-7"}))
        .await;

    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["id"], device.id.as_str());
    assert!(again.body.get("api_key").is_none(), "{}", again.body);
    assert_eq!(
        app.get_device(Some(&device.key), &device.id).await.status,
        StatusCode::OK
    );
    let events = reregistered_events(&app).await;
    assert_eq!(events[0]["data"]["proof"], "own_credential");
    for other in ["kiosk-8", "someone-else"] {
        if other == "someone-else" {
            app.register_device(other).await;
        }
        app.register(Some(&device.key), json!({"device_identifier": other}))
            .await
            .assert_error(403, "forbidden");
    }
    assert_eq!(app.device_count().await, 2);
}
