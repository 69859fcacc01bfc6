//! The reference's four curl examples, sent as written with the host swapped.

use reqwest::StatusCode;

use crate::helpers::{read, spawn_app};

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
    for field in [
        "id",
        "device_id",
        "api_key",
        "platform",
        "status",
        "created_at",
    ] {
        assert!(
            register.body.get(field).is_some(),
            "register response lacks {field}"
        );
    }

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
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["limit"], 20);
    assert_eq!(list.body["devices"][0]["device_identifier"], "laptop-001");

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
    assert_eq!(retrieve.body["device_id"], "laptop-001");
    assert_eq!(retrieve.body["capabilities"]["memory_gb"], 8);

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
    for field in ["status", "last_heartbeat", "pending_round_id", "message"] {
        assert!(
            heartbeat.body.get(field).is_some(),
            "heartbeat response lacks {field}"
        );
    }
    assert_eq!(heartbeat.body["status"], "active");

    // The register response's own key then works for its device.
    let device_key = register.body["api_key"].as_str().unwrap();
    let own = app.get_device(Some(device_key), "laptop-001").await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["metrics"]["battery_level"], 85);
}
