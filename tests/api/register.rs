use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::redact;

#[tokio::test]
async fn register_returns_201_with_every_contract_field() {
    let app = spawn_app().await;

    let reply = app
        .register(
            None,
            json!({
                "device_id": "laptop-001",
                "platform": "python",
                "capabilities": {"cpu": "4-core", "memory_gb": 8, "gpu": false}
            }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["access_token"], body["api_key"]);
    assert_eq!(body["registered_at"], body["created_at"]);
    assert_eq!(body["updated_at"], body["created_at"]);
    insta::assert_json_snapshot!(body, {
        ".id" => redact::uuid(),
        ".api_key" => redact::prefixed("edg_dev_"),
        ".access_token" => redact::prefixed("edg_dev_"),
        ".created_at" => redact::time(),
        ".registered_at" => redact::time(),
        ".updated_at" => redact::time(),
    });
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/devices/{id}").as_str())
    );
    assert!(reply.header("x-request-id").is_some());
}

pub fn is_rfc3339_whole_seconds(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && text
            .bytes()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

#[tokio::test]
async fn register_accepts_the_sdks_device_identifier_and_defaults() {
    let app = spawn_app().await;

    let reply = app
        .register(
            Some(app.publishable_key()),
            json!({ "device_identifier": "phone-7" }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["device_id"], "phone-7");
    assert_eq!(reply.body["device_identifier"], "phone-7");
    assert_eq!(reply.body["platform"], "python");
    assert_eq!(reply.body["capabilities"], json!({}));
}

#[tokio::test]
async fn register_accepts_both_names_when_they_agree_and_refuses_when_they_differ() {
    let app = spawn_app().await;

    let agree = app
        .register(
            None,
            json!({ "device_id": "a-1", "device_identifier": "a-1" }),
        )
        .await;
    let differ = app
        .register(
            None,
            json!({ "device_id": "b-1", "device_identifier": "b-2" }),
        )
        .await;

    assert_eq!(agree.status, StatusCode::CREATED);
    let message = differ.assert_error(400, "bad_request");
    assert!(
        message.contains("device_id") && message.contains("device_identifier"),
        "{message}"
    );
    assert_eq!(app.device_count().await, 1);
}

#[tokio::test]
async fn register_keeps_sdk_fields_as_metadata_and_ignores_unknown_fields() {
    let app = spawn_app().await;

    let device = app
        .register_device_with(
            app.publishable_key(),
            json!({
                "device_identifier": "pixel-8",
                "platform": "android",
                "os_version": "14",
                "sdk_version": "2.1.0",
                "manufacturer": "Google",
                "total_memory_mb": 8192,
                "metadata": {"team": "ml"},
                "something_new": [1, 2, 3]
            }),
        )
        .await;
    let reply = app.get_device(Some(app.secret_key()), &device.id).await;

    assert_eq!(
        reply.body["metadata"],
        json!({"team": "ml", "os_version": "14", "sdk_version": "2.1.0", "manufacturer": "Google", "total_memory_mb": 8192})
    );
    assert_eq!(reply.body["platform"], "android");
}

#[tokio::test]
async fn register_accepts_any_lowercase_platform_token() {
    let app = spawn_app().await;

    for (i, platform) in [
        "ios", "android", "edge", "macos", "linux", "windows", "browser",
    ]
    .iter()
    .enumerate()
    {
        let reply = app
            .register(
                None,
                json!({ "device_id": format!("d-{i}"), "platform": platform }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{platform}: {}",
            reply.body
        );
        assert_eq!(reply.body["platform"], *platform);
    }
}

#[tokio::test]
async fn register_returns_409_when_identifier_is_taken_and_keeps_the_first_device() {
    let app = spawn_app().await;
    let first = app.register_device("laptop-001").await;

    let again = app
        .register(
            None,
            json!({ "device_id": "laptop-001", "platform": "ios" }),
        )
        .await;

    let message = again.assert_error(409, "conflict");
    assert!(message.contains("laptop-001"), "{message}");
    let stored = app.get_device(Some(&first.key), "laptop-001").await;
    assert_eq!(stored.status, StatusCode::OK, "the first key still works");
    assert_eq!(stored.body["id"], first.id.as_str());
    assert_eq!(stored.body["platform"], "python");
    assert_eq!(app.device_count().await, 1);
}

#[tokio::test]
async fn two_orgs_may_each_have_the_same_identifier() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");

    let ours = app.register_device("laptop-001").await;
    let theirs = app
        .register_device_with(&other.secret_key, json!({ "device_id": "laptop-001" }))
        .await;

    assert_ne!(ours.id, theirs.id);
    let reply = app.get_device(Some(&other.secret_key), "laptop-001").await;
    assert_eq!(reply.body["id"], theirs.id.as_str());
    assert_eq!(reply.body["org_id"], other.id.as_str());
}

#[tokio::test]
async fn open_registration_joins_the_bodys_org_or_404s_for_an_unknown_one() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");

    let joined = app
        .register(None, json!({ "device_id": "x-1", "org_id": other.id }))
        .await;
    let unknown = app
        .register(None, json!({ "device_id": "x-2", "org_id": "org_missing" }))
        .await;

    assert_eq!(joined.status, StatusCode::CREATED);
    assert_eq!(joined.body["org_id"], "org_other");
    let message = unknown.assert_error(404, "not_found");
    assert!(message.contains("org_missing"), "{message}");
}

#[tokio::test]
async fn a_keyed_registration_joins_the_keys_org_whatever_the_body_says() {
    let app = spawn_app().await;
    app.create_org("org_other");

    let reply = app
        .register(
            Some(app.secret_key()),
            json!({ "device_id": "y-1", "org_id": "org_other" }),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["org_id"], "org_demo");
}

#[tokio::test]
async fn closed_registration_refuses_anonymous_devices_but_serves_keys() {
    let app = crate::helpers::spawn_app_with(|c| c.open_registration = false).await;

    let anonymous = app.register(None, json!({ "device_id": "z-1" })).await;
    let keyed = app
        .register(Some(app.publishable_key()), json!({ "device_id": "z-1" }))
        .await;

    let message = anonymous.assert_error(401, "unauthorized");
    assert!(message.contains("open registration is off"), "{message}");
    assert_eq!(keyed.status, StatusCode::CREATED);
}

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_identifier_give_one_201_and_49_409s() {
    let app = spawn_app().await;

    let replies = futures::future::join_all(
        (0..50).map(|_| app.register(None, json!({ "device_id": "race-1" }))),
    )
    .await;

    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let conflicts = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (created, conflicts),
        (1, 49),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.device_count().await, 1);
}

#[tokio::test]
async fn capabilities_numbers_come_back_exactly_as_sent() {
    let app = spawn_app().await;
    // A float that serde_json's default (fast, approximate) parser reads one ulp off.
    let sent = r#"{"device_id": "float-001", "capabilities": {"x": -5.535787672834034e172}}"#;

    let reply = app
        .send(
            reqwest::Method::POST,
            "/api/v1/devices/register",
            Some(app.secret_key()),
            Some(sent),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let stored = app.get_device(Some(app.secret_key()), "float-001").await;
    assert_eq!(
        stored.body["capabilities"]["x"].as_f64(),
        Some(-5.535787672834034e172)
    );
}
