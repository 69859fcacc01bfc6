//! Bodies the handlers read themselves (telemetry, federation parts) are under the same
//! deadline as every other body, and a stalled one is the same JSON 408.

use std::time::Duration;

use crate::hardening::raw_exchange;
use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_stalled_telemetry_or_part_body_is_a_json_408() {
    // Not ephemeral: an ephemeral server's request journal reads every body before the
    // handler does, which would answer for the handler.
    let app = spawn_app_with(|c| {
        c.ephemeral = false;
        c.body_timeout = Duration::from_millis(300);
    })
    .await;
    let device = app.register_device("slow-sender").await;
    for (method, path) in [
        ("POST", "/api/v2/telemetry/events".to_owned()),
        ("POST", "/api/v1/telemetry/batches".to_owned()),
        (
            "PUT",
            "/api/v1/federation/uploads/0191f5c2-7d3a-7c4e-9a55-2f1f0b0c0d0e/parts/0".to_owned(),
        ),
    ] {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: devreg\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
            device.key
        );

        // The client waits up to 5 s and sends nothing more: only the server's own 0.3 s
        // deadline answers within that.
        let reply = raw_exchange(&app, request.as_bytes(), false, Duration::from_secs(5)).await;

        let message = reply.assert_error(408, "request_timeout");
        assert!(
            message.contains("did not arrive within 0.3 s"),
            "{path}: {message}"
        );
    }
}
