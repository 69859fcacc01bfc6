//! Rate limits as a client sees them: 429 with `Retry-After` and the contract's body, the
//! request refused doing nothing, buckets kept apart, and served again after the wait.

use std::time::Duration;

use clap::Parser;
use devreg::domain::{ApiKey, KeyKind};
use devreg::ratelimit::RateLimitClock;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Reply, TestApp, read, spawn_app_with};

/// Registers `identifier` without a key, the request carrying `header`.
async fn register_with_header(app: &TestApp, header: (&str, &str), identifier: &str) -> Reply {
    let response = app
        .client
        .post(app.url("/api/v1/devices/register"))
        .header(header.0, header.1)
        .json(&json!({ "device_id": identifier }))
        .send()
        .await
        .expect("request failed");
    read(response).await
}

/// Sends a heartbeat for `device_id` with `key`, the request carrying `header`.
async fn heartbeat_with_header(
    app: &TestApp,
    key: &str,
    header: (&str, &str),
    device_id: &str,
) -> Reply {
    let response = app
        .client
        .put(app.url(&format!("/api/v1/devices/{device_id}/heartbeat")))
        .bearer_auth(key)
        .header(header.0, header.1)
        .send()
        .await
        .expect("request failed");
    read(response).await
}

#[tokio::test]
async fn a_device_over_its_quota_gets_429_with_retry_after_and_its_heartbeat_is_not_recorded() {
    let app = spawn_app_with(|c| c.rate_limit_device = 2).await;
    let device = app.register_device("sensor-1").await;

    let first = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"metrics": {"n": 1}})),
        )
        .await;
    let second = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"metrics": {"n": 2}})),
        )
        .await;
    let third = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"metrics": {"n": 3}})),
        )
        .await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
    third.assert_error(429, "rate_limited");
    // Two per minute: the next token comes 30 s after the first two.
    assert_eq!(third.header("retry-after"), Some("30"));
    let stored = app.get_device(Some(app.secret_key()), &device.id).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_eq!(stored.body["metrics"], json!({"n": 2}), "{}", stored.body);
}

#[tokio::test]
async fn an_anonymous_registration_over_quota_registers_nothing() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = 1).await;

    let first = app.register(None, json!({"device_id": "first"})).await;
    let second = app.register(None, json!({"device_id": "second"})).await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    second.assert_error(429, "rate_limited");
    assert_eq!(second.header("retry-after"), Some("60"));
    assert_eq!(app.device_count().await, 1);
    let missing = app.get_device(Some(app.secret_key()), "second").await;
    missing.assert_error(404, "not_found");
    let metrics = app.metrics().await;
    for line in [
        "devreg_rate_limited_total 1",
        r#"devreg_http_requests_total{method="POST",route="/api/v1/devices/register",status="429"} 1"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn another_credential_is_served_while_one_is_limited() {
    let app = spawn_app_with(|c| c.rate_limit_device = 1).await;
    let noisy = app.register_device("noisy").await;
    let quiet = app.register_device("quiet").await;
    let third = app.register_device("third").await;

    let served = app.heartbeat(Some(&noisy.key), &noisy.id, None).await;
    let limited = app.heartbeat(Some(&noisy.key), &noisy.id, None).await;
    let other_device = app.heartbeat(Some(&quiet.key), &quiet.id, None).await;
    let org_key = app.heartbeat(Some(app.secret_key()), &third.id, None).await;
    let read = app.get_device(Some(app.secret_key()), &noisy.id).await;

    assert_eq!(served.status, StatusCode::OK);
    limited.assert_error(429, "rate_limited");
    assert_eq!(other_device.status, StatusCode::OK, "{}", other_device.body);
    // The org key is served for a device that is not limited (heartbeats are limited per
    // device whatever the key: see hardening.rs), and for reads of the limited one.
    assert_eq!(org_key.status, StatusCode::OK, "{}", org_key.body);
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
}

#[tokio::test]
async fn a_limited_credential_is_served_again_after_the_advertised_wait() {
    let clock = RateLimitClock::default();
    let app = spawn_app_with(|c| {
        c.rate_limit_device = 2;
        c.rate_limit_clock = clock.clone();
    })
    .await;
    let device = app.register_device("sensor-1").await;
    for _ in 0..2 {
        let reply = app.heartbeat(Some(&device.key), &device.id, None).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let limited = app.heartbeat(Some(&device.key), &device.id, None).await;
    limited.assert_error(429, "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();

    clock.advance(Duration::from_secs(wait - 1));
    let too_early = app.heartbeat(Some(&device.key), &device.id, None).await;
    clock.advance(Duration::from_secs(1));
    let on_time = app.heartbeat(Some(&device.key), &device.id, None).await;

    too_early.assert_error(429, "rate_limited");
    assert_eq!(too_early.header("retry-after"), Some("1"));
    assert_eq!(on_time.status, StatusCode::OK, "{}", on_time.body);
    assert_eq!(on_time.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn anonymous_calls_from_two_addresses_have_separate_buckets_behind_a_trusted_proxy() {
    let app = spawn_app_with(|c| {
        c.rate_limit_anonymous = 1;
        c.trust_proxy_headers = true;
    })
    .await;
    let forwarded = |ip| ("x-forwarded-for", ip);

    let first = register_with_header(&app, forwarded("203.0.113.1"), "a1").await;
    let again = register_with_header(&app, forwarded("203.0.113.1"), "a2").await;
    let other = register_with_header(&app, forwarded("203.0.113.2"), "b1").await;
    let fly = register_with_header(&app, ("fly-client-ip", "203.0.113.3"), "c1").await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    again.assert_error(429, "rate_limited");
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    assert_eq!(fly.status, StatusCode::CREATED, "{}", fly.body);
}

#[tokio::test]
async fn forwarded_headers_are_ignored_unless_the_proxy_is_trusted() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = 1).await;

    let first = register_with_header(&app, ("x-forwarded-for", "203.0.113.1"), "a1").await;
    let forged = register_with_header(&app, ("x-forwarded-for", "203.0.113.2"), "b1").await;
    let fly = register_with_header(&app, ("fly-client-ip", "203.0.113.3"), "c1").await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    forged.assert_error(429, "rate_limited");
    fly.assert_error(429, "rate_limited");
    assert_eq!(app.device_count().await, 1);
}

#[tokio::test]
async fn ipv6_clients_share_a_bucket_per_64() {
    let app = spawn_app_with(|c| {
        c.rate_limit_anonymous = 1;
        c.trust_proxy_headers = true;
    })
    .await;
    let forwarded = |ip| ("x-forwarded-for", ip);

    let first = register_with_header(&app, forwarded("2001:db8:1:2::1"), "a1").await;
    let same_64 = register_with_header(&app, forwarded("2001:db8:1:2:abcd::9"), "a2").await;
    let next_64 = register_with_header(&app, forwarded("2001:db8:1:3::1"), "b1").await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    same_64.assert_error(429, "rate_limited");
    assert_eq!(next_64.status, StatusCode::CREATED, "{}", next_64.body);
}

#[tokio::test]
async fn refused_keys_count_against_the_address_so_guessing_is_limited() {
    let app = spawn_app_with(|c| {
        c.rate_limit_anonymous = 2;
        c.trust_proxy_headers = true;
    })
    .await;
    let guesser = ("x-forwarded-for", "198.51.100.9");
    let guess = || ApiKey::generate(KeyKind::Device).expose().to_owned();

    let first = heartbeat_with_header(&app, &guess(), guesser, "sensor-1").await;
    let second = heartbeat_with_header(&app, &guess(), guesser, "sensor-1").await;
    let third = heartbeat_with_header(&app, &guess(), guesser, "sensor-1").await;
    let fourth = heartbeat_with_header(&app, &guess(), guesser, "sensor-1").await;
    let anonymous = register_with_header(&app, guesser, "from-guesser").await;
    let elsewhere = register_with_header(&app, ("x-forwarded-for", "198.51.100.10"), "ok").await;

    first.assert_error(401, "unauthorized");
    second.assert_error(401, "unauthorized");
    third.assert_error(429, "rate_limited");
    fourth.assert_error(429, "rate_limited");
    assert!(fourth.header("retry-after").is_some());
    anonymous.assert_error(429, "rate_limited");
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.body);
}

#[tokio::test]
async fn a_zero_quota_turns_that_limit_off() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = 0).await;

    for n in 0..5 {
        let reply = app
            .register(None, json!({ "device_id": format!("d{n}") }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.header("x-ratelimit-limit"), None);
    }
}

#[tokio::test]
async fn health_checks_and_metrics_are_never_limited() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = 1).await;

    let registered = app.register(None, json!({"device_id": "first"})).await;
    for path in ["/healthz", "/readyz", "/metrics"].repeat(3) {
        let reply = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(registered.status, StatusCode::CREATED);
}

#[tokio::test]
async fn invalid_quotas_are_refused_at_start_up() {
    let mut config = devreg::Config::ephemeral();
    config.rate_limit_device = 100;
    config.rate_limit_device_burst = Some(0);

    let refused = devreg::Server::build(&config);
    let from_cli = devreg::cli::Cli::try_parse_from(["devreg", "serve", "--rate-limit-device=-5"]);

    match refused {
        Ok(_) => panic!("a burst of 0 should be refused"),
        Err(err) => assert!(
            err.to_string()
                .contains("--rate-limit-device-burst must be at least 1"),
            "{err}"
        ),
    }
    let message = from_cli
        .expect_err("a negative quota should be refused")
        .to_string();
    assert!(
        message.contains("invalid value '-5' for '--rate-limit-device"),
        "{message}"
    );
}
