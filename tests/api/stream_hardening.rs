//! Event streams answer to the credential that opened them: a revoked key's streams end
//! without another event, and one key holds at most `--max-streams-per-key` of them.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Opens a stream with `key` and answers the response, whatever its status.
async fn open(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/events/stream"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// Reads `response` to its end, failing if an event arrives first or it is still open
/// after 10 s.
async fn assert_ends_without_an_event(mut response: reqwest::Response) {
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        while let Some(chunk) = response.chunk().await.unwrap_or(None) {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
            assert!(
                !text.lines().any(|l| l.starts_with("id: ")),
                "the stream delivered an event after its key was revoked: {text}"
            );
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream is still open 10 s after its key was revoked"
    );
}

#[tokio::test]
async fn a_stream_ends_without_delivering_when_its_key_is_revoked() {
    let app = spawn_app().await;
    let key =
        devreg::admin::create_key(app.server.db(), "org_demo", devreg::domain::KeyKind::Secret)
            .unwrap();
    app.register_device("before").await;
    let mut stream = open(&app, key.expose()).await;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut text = String::new();
    while !text.contains("event: device.registered") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("the first event within 10 s")
            .unwrap()
            .expect("the stream is open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }

    devreg::admin::revoke_key(app.server.db(), key.expose()).unwrap();
    app.register_device("after").await;

    assert_ends_without_an_event(stream).await;
}

#[tokio::test]
async fn a_revoked_keys_idle_stream_ends_within_seconds() {
    let app = spawn_app().await;
    let key =
        devreg::admin::create_key(app.server.db(), "org_demo", devreg::domain::KeyKind::Secret)
            .unwrap();
    let response = open(&app, key.expose()).await;
    assert_eq!(response.status(), StatusCode::OK);

    // No event follows: the stream finds out by itself.
    devreg::admin::revoke_key(app.server.db(), key.expose()).unwrap();

    assert_ends_without_an_event(response).await;
}

#[tokio::test]
async fn one_key_holds_at_most_max_streams_per_key_and_a_closed_one_frees_its_slot() {
    let app = spawn_app_with(|config| {
        config.max_streams_per_key = 2;
        // The server notices a hang-up when it next writes: a keep-alive each second.
        config.event_keepalive = 1;
    })
    .await;
    let first = open(&app, app.secret_key()).await;
    let second = open(&app, app.secret_key()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);

    let third = open(&app, app.secret_key()).await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = third.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["status_code"], 429, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--max-streams-per-key"),
        "{body}"
    );
    // Another org's key has its own streams.
    let other = app.create_org("org_other");
    assert_eq!(open(&app, &other.secret_key).await.status(), StatusCode::OK);

    drop(first);
    // Freed once the server notices the hang-up; a bound on the wait, not a sleep.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = open(&app, app.secret_key()).await;
        if next.status() == StatusCode::OK {
            break;
        }
        assert_eq!(next.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            tokio::time::Instant::now() < deadline,
            "a closed stream's slot is still taken after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(second);
}
