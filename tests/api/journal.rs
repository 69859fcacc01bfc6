//! The request journal of an ephemeral server: what an app sent, as it sent it, with keys
//! redacted, bounded, and readable from Rust and over HTTP.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_registration_is_journaled_with_its_bodies_and_its_keys_redacted() {
    let app = spawn_app().await;
    let publishable = app.publishable_key().to_owned();
    let reply = app
        .register(
            Some(&publishable),
            json!({"device_id": "journaled-1", "platform": "ios", "secret": publishable}),
        )
        .await;
    let device_key = reply.body["api_key"].as_str().unwrap().to_owned();

    let entries = app.server.requests();
    let entry = entries.last().expect("the registration is journaled");
    assert_eq!(entry.method, "POST");
    assert_eq!(entry.path, "/api/v1/devices/register");
    assert_eq!(entry.status, 201);
    assert_eq!(entry.request_id, reply.header("x-request-id").unwrap());
    assert_eq!(entry.request_body["device_id"], "journaled-1");
    assert_eq!(entry.request_body["platform"], "ios");
    assert_eq!(entry.response_body["device_id"], "journaled-1");
    let everything = serde_json::to_string(&entries).unwrap();
    assert!(
        !everything.contains(&device_key),
        "the device key is redacted"
    );
    assert!(
        !everything.contains(&publishable),
        "the publishable key is redacted"
    );
    assert!(
        entry.response_body["api_key"]
            .as_str()
            .unwrap()
            .starts_with("edg_dev_")
    );
    assert!(
        entry
            .credential
            .as_deref()
            .unwrap()
            .starts_with("oct_pub_live_")
    );
}

#[tokio::test]
async fn the_journal_is_served_over_http_in_pages_and_cleared() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.send(
            Method::GET,
            &format!("/api/v1/nothing-{i}?key={}", app.secret_key()),
            None,
            None,
        )
        .await;
    }
    let page = app
        .send(Method::GET, "/_devreg/requests?limit=2", None, None)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let requests = page.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0]["path"], "/api/v1/nothing-0");
    assert_eq!(requests[0]["status"], 404);
    assert_eq!(requests[0]["response_body"]["error"], "not_found");
    assert!(
        !requests[0]["query"]
            .as_str()
            .unwrap()
            .contains(app.secret_key())
    );
    let last_seq = requests[1]["seq"].as_u64().unwrap();
    let rest = app
        .send(
            Method::GET,
            &format!("/_devreg/requests?after={last_seq}"),
            None,
            None,
        )
        .await;
    let rest = rest.body["requests"].as_array().unwrap();
    assert_eq!(
        rest.len(),
        1,
        "test control itself is not journaled: {rest:?}"
    );
    assert_eq!(rest[0]["path"], "/api/v1/nothing-2");

    let cleared = app
        .send(Method::DELETE, "/_devreg/requests", None, None)
        .await;
    assert_eq!(cleared.body["cleared"], 3);
    assert!(app.server.requests().is_empty());
    for bad in ["after=x", "after=", "after=-1", "limit=0"] {
        app.send(Method::GET, &format!("/_devreg/requests?{bad}"), None, None)
            .await
            .assert_error(400, "bad_request");
    }
}

#[tokio::test]
async fn the_journal_keeps_the_newest_entries_within_its_bound_and_counts_the_rest() {
    let app = spawn_app_with(|c| c.journal_entries = 3).await;
    for _ in 0..5 {
        app.send(Method::GET, "/healthz", None, None).await;
    }
    let page = app.send(Method::GET, "/_devreg/requests", None, None).await;
    assert_eq!(page.body["requests"].as_array().unwrap().len(), 3);
    assert_eq!(page.body["dropped"], 2);
    assert_eq!(page.body["requests"][0]["seq"], 3);
}

#[tokio::test]
async fn a_server_that_is_not_ephemeral_keeps_no_journal() {
    let app = spawn_app_with(|c| c.ephemeral = false).await;
    app.register(None, json!({"device_id": "unjournaled"}))
        .await;
    assert!(app.server.requests().is_empty());
    let reply = app.send(Method::GET, "/_devreg/requests", None, None).await;
    reply.assert_error(404, "not_found");
}
