//! What an attack run and a newcomer found (issue 13, items 1–12), each pinned down: the
//! limits nobody escapes, caps on what a public key can store, bodies that must be one
//! JSON object, unambiguous credentials and device paths, look-alike identifiers, slow
//! bodies, and the readiness probe.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn data_after_the_json_object_is_a_400_and_changes_nothing() {
    let app = spawn_app().await;
    let device = app.register_device("sensor-1").await;
    let path = format!("/api/v1/devices/{}/heartbeat", device.id);

    for body in [
        r#"{"status":"inactive"}{"status":"active"}"#,
        r#"{"status":"inactive"}garbage"#,
        r#"{"status":"inactive"} 1"#,
    ] {
        let reply = app
            .send(Method::PUT, &path, Some(&device.key), Some(body))
            .await;
        let message = reply.assert_error(400, "bad_request");
        assert!(message.contains("nothing after it"), "{body}: {message}");
    }
    let registered = app
        .send(
            Method::POST,
            "/api/v1/devices/register",
            Some(app.secret_key()),
            Some(r#"{"device_id":"sensor-2"} {"device_id":"sensor-3"}"#),
        )
        .await;
    registered.assert_error(400, "bad_request");

    let stored = app.get_device(Some(app.secret_key()), &device.id).await;
    assert_eq!(stored.body["status"], "active");
    assert_eq!(stored.body["last_heartbeat"], json!(null));
    assert_eq!(app.device_count().await, 1);
    // Whitespace after the object is still fine.
    let spaced = app
        .send(
            Method::PUT,
            &path,
            Some(&device.key),
            Some("{\"status\":\"inactive\"}\n "),
        )
        .await;
    assert_eq!(spaced.status, StatusCode::OK, "{}", spaced.body);
}
