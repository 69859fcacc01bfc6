use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::redact;

#[tokio::test]
async fn retrieve_returns_every_contract_field_before_the_first_heartbeat() {
    let app = spawn_app().await;
    let device = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "laptop-001", "platform": "python", "capabilities": {"cpu": "4-core", "memory_gb": 8, "gpu": false}}),
        )
        .await;

    let reply = app.get_device(Some(app.secret_key()), "laptop-001").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = &reply.body;
    insta::assert_json_snapshot!(body, {
        ".id" => redact::is(&device.id, "[device.id]"),
        ".created_at" => redact::time(),
        ".updated_at" => redact::time(),
    });
    assert!(
        body.get("api_key").is_none(),
        "a key is shown once, at registration"
    );
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn retrieve_by_uuid_and_by_identifier_give_the_same_device() {
    let app = spawn_app().await;
    let device = app.register_device("laptop-001").await;

    let by_identifier = app.get_device(Some(&device.key), "laptop-001").await;
    let by_uuid = app.get_device(Some(&device.key), &device.id).await;
    let by_upper_uuid = app
        .get_device(Some(&device.key), &device.id.to_uppercase())
        .await;

    assert_eq!(by_identifier.status, StatusCode::OK);
    assert_eq!(by_identifier.body, by_uuid.body);
    assert_eq!(by_uuid.body, by_upper_uuid.body);
}

#[tokio::test]
async fn an_identifier_with_spaces_and_unicode_round_trips_through_the_path() {
    let app = spawn_app().await;
    app.register_device("Kitchen tablet ü #2").await;

    let reply = app
        .get_device(Some(app.secret_key()), "Kitchen%20tablet%20%C3%BC%20%232")
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["device_id"], "Kitchen tablet ü #2");
}

#[tokio::test]
async fn retrieve_of_an_unknown_device_is_404() {
    let app = spawn_app().await;

    let reply = app.get_device(Some(app.secret_key()), "nobody").await;

    let message = reply.assert_error(404, "not_found");
    assert!(message.contains("nobody"), "{message}");
}

#[tokio::test]
async fn a_device_named_register_can_be_retrieved() {
    let app = spawn_app().await;
    app.register_device("register").await;

    let reply = app.get_device(Some(app.secret_key()), "register").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["device_id"], "register");
}
