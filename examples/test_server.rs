//! A devreg inside a program's own process, the way a test suite uses it: start it,
//! register a device, heartbeat as that device, list the org's devices. Run with
//! `cargo run --example test_server`.

use devreg::testing::TestServer;
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A fresh in-memory devreg on 127.0.0.1:<free port>, org_demo and its keys ready.
    let server = TestServer::builder()
        .config(|c| c.heartbeat_interval = 30)
        .start()
        .await;
    println!("devreg at {} (org {})", server.url(), server.org_id());

    // No HTTP needed to set up fixtures; the device key is the one the API would give.
    let device = server.register_device("laptop-001").await;

    let client = reqwest::Client::new();
    let ack: Value = client
        .put(format!(
            "{}/api/v1/devices/{}/heartbeat",
            server.url(),
            device.id
        ))
        .bearer_auth(&device.api_key)
        .json(&json!({ "status": "active", "metrics": { "battery_pct": 80 } }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("heartbeat acknowledged: {}", ack["acknowledged"]);

    let list: Value = client
        .get(format!(
            "{}/api/v1/devices?org_id={}",
            server.url(),
            server.org_id()
        ))
        .bearer_auth(server.secret_key())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("{} device(s): {}", list["total"], list["devices"]);

    // Dropping the handle stops the server; `stop().await` also waits for it.
    server.stop().await;
    Ok(())
}
