//! `devreg::testing::TestServer` as another crate's tests use it: many at once, each
//! isolated, each with its org and keys ready.

use devreg::testing::TestServer;
use futures::StreamExt;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

/// Registers a device on `server` through the library and drives it over HTTP.
/// Returns the server (still running) and its device key.
async fn drive(n: usize, server: TestServer) -> (TestServer, String) {
    let client = reqwest::Client::new();
    let device = server.register_device(&format!("device-{n}")).await;
    assert_eq!(device.device_id, format!("device-{n}"));

    let beat = client
        .put(format!(
            "{}/api/v1/devices/{}/heartbeat",
            server.url(),
            device.id
        ))
        .bearer_auth(&device.api_key)
        .json(&json!({ "metrics": { "n": n } }))
        .send()
        .await
        .unwrap();
    assert_eq!(beat.status(), StatusCode::OK);

    let list: serde_json::Value = client
        .get(format!(
            "{}/api/v1/devices?org_id={}",
            server.url(),
            server.org_id()
        ))
        .bearer_auth(server.secret_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Only its own device: nothing leaks between servers.
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["devices"][0]["device_id"], format!("device-{n}"));
    assert!(!list["devices"][0]["last_seen_at"].is_null());
    (server, device.api_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_test_servers_run_at_once_each_isolated() {
    // All hundred start at once and run together; then they are driven ten at a time,
    // all still running. (Driving all hundred at once from this test's one task let a
    // client's connection wait, on a machine loaded by the rest of the suite, past
    // actix's 5 s request-head timeout between its connect and its request, which the
    // server answered with a 408 the client read as an unexpected message.)
    let started = join_all((0..100).map(|_| TestServer::start())).await;
    let servers: Vec<_> =
        futures::stream::iter(started.into_iter().enumerate().map(|(n, s)| drive(n, s)))
            .buffered(10)
            .collect()
            .await;

    let mut urls: Vec<&str> = servers.iter().map(|(s, _)| s.url()).collect();
    urls.sort_unstable();
    urls.dedup();
    assert_eq!(urls.len(), 100, "every server has its own port");

    // A key of one server means nothing to another.
    let client = reqwest::Client::new();
    let (first, _) = &servers[0];
    let (_, other_key) = &servers[1];
    let reply = client
        .get(format!("{}/api/v1/devices/device-1", first.url()))
        .bearer_auth(other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_dropped_test_server_stops_serving() {
    let server = TestServer::start().await;
    let url = format!("{}/healthz", server.url());
    assert_eq!(reqwest::get(&url).await.unwrap().status(), StatusCode::OK);

    server.stop().await;

    assert!(reqwest::get(&url).await.is_err(), "connection refused");
}

#[tokio::test]
async fn register_device_gives_a_key_that_the_api_accepts() {
    let server = TestServer::start().await;
    let device = server.register_device("sensor-7").await;

    let reply = reqwest::Client::new()
        .get(format!("{}/api/v1/devices/sensor-7", server.url()))
        .bearer_auth(&device.api_key)
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status(), StatusCode::OK);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["id"], device.id.as_str());
    assert_eq!(body["org_id"], server.org_id());
    assert_eq!(body["platform"], "python");
}

#[tokio::test]
async fn the_builder_sets_config() {
    let server = TestServer::builder()
        .config(|c| c.open_registration = false)
        .start()
        .await;

    let reply = reqwest::Client::new()
        .post(format!("{}/api/v1/devices/register", server.url()))
        .json(&json!({ "device_id": "anon" }))
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
}
