//! `/metrics` and the fleet's sizes: an operator's `--metrics-token` makes it need a
//! credential; without one, a server that is not ephemeral leaves the sizes out.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};

async fn metrics(app: &TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let reply = request.send().await.unwrap();
    (reply.status(), reply.text().await.unwrap())
}

#[tokio::test]
async fn a_server_that_is_not_ephemeral_and_has_no_token_leaves_out_fleet_sizes() {
    let app = spawn_app_with(|c| c.ephemeral = false).await;
    app.register_device("one").await;

    let (status, text) = metrics(&app, None).await;

    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("devreg_registrations_total 1"), "{text}");
    assert!(!text.contains("devreg_devices"), "{text}");
    assert!(!text.contains("devreg_artifact_bytes_stored"), "{text}");
}

#[tokio::test]
async fn a_metrics_token_is_required_when_set_and_then_everything_is_shown() {
    let app = spawn_app_with(|c| {
        c.ephemeral = false;
        c.metrics_token = Some("scrape-me-0123456789".to_owned());
    })
    .await;
    app.register_device("one").await;

    for presented in [None, Some("wrong"), Some(app.secret_key())] {
        let (status, text) = metrics(&app, presented).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{presented:?}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"], "unauthorized");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("--metrics-token")
        );
        assert!(!text.contains("scrape-me"));
    }
    let (status, text) = metrics(&app, Some("scrape-me-0123456789")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("devreg_devices 1"), "{text}");
}
