//! The reference's four curl examples, sent as written with the host swapped.

use reqwest::StatusCode;

use crate::helpers::{read, spawn_app};
use crate::redact;

#[tokio::test]
async fn the_four_reference_examples_work_verbatim() {
    let app = spawn_app().await;
    let api_key = app.secret_key();

    // curl -X POST https://api.octomil.com/api/v1/devices/register -H "Content-Type: application/json" -d '...'
    let register = read(
        app.client
            .post(app.url("/api/v1/devices/register"))
            .header("Content-Type", "application/json")
            .body(
                "{\n\"device_id\": \"laptop-001\",\n\"platform\": \"python\",\n\"capabilities\": {\"cpu\": \"4-core\", \"memory_gb\": 8, \"gpu\": false}\n}",
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(register.status, StatusCode::CREATED, "{}", register.body);
    let id = register.body["id"].as_str().unwrap().to_owned();
    insta::assert_json_snapshot!("register", register.body, {
        ".id" => redact::uuid(),
        ".api_key" => redact::prefixed("edg_dev_"),
        ".access_token" => redact::prefixed("edg_dev_"),
        ".created_at" => redact::time(),
        ".registered_at" => redact::time(),
        ".updated_at" => redact::time(),
    });

    // curl "https://api.octomil.com/api/v1/devices?org_id=org_demo&limit=20" -H "Authorization: Bearer $OCTOMIL_API_KEY"
    let list = read(
        app.client
            .get(app.url("/api/v1/devices?org_id=org_demo&limit=20"))
            .header("Authorization", format!("Bearer {api_key}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    insta::assert_json_snapshot!("list", list.body, {
        ".devices[].id" => redact::is(&id, "[id]"),
    });

    // curl https://api.octomil.com/api/v1/devices/laptop-001 -H "Authorization: Bearer $OCTOMIL_API_KEY"
    let retrieve = read(
        app.client
            .get(app.url("/api/v1/devices/laptop-001"))
            .header("Authorization", format!("Bearer {api_key}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(retrieve.status, StatusCode::OK, "{}", retrieve.body);
    insta::assert_json_snapshot!("retrieve", retrieve.body, {
        ".id" => redact::is(&id, "[id]"),
        ".created_at" => redact::time(),
        ".updated_at" => redact::time(),
    });

    // curl -X PUT https://api.octomil.com/api/v1/devices/laptop-001/heartbeat -H "Authorization: Bearer $OCTOMIL_API_KEY" -H "Content-Type: application/json" -d '...'
    let heartbeat = read(
        app.client
            .put(app.url("/api/v1/devices/laptop-001/heartbeat"))
            .header("Authorization", format!("Bearer {api_key}"))
            .header("Content-Type", "application/json")
            .body("{\n\"status\": \"active\",\n\"metrics\": {\"cpu_usage_percent\": 42.5, \"memory_usage_percent\": 61.0, \"battery_level\": 85}\n}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(heartbeat.status, StatusCode::OK, "{}", heartbeat.body);
    insta::assert_json_snapshot!("heartbeat", heartbeat.body, {
        ".id" => redact::is(&id, "[id]"),
        ".last_heartbeat" => redact::time(),
        ".server_time" => redact::time(),
    });

    // The register response's own key then works for its device.
    let device_key = register.body["api_key"].as_str().unwrap();
    let own = app.get_device(Some(device_key), "laptop-001").await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["metrics"]["battery_level"], 85);
}
