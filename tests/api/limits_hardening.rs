//! Issue 29's security and limits items: what an unverified credential may spend, and the
//! bounds on federation uploads, updates, telemetry and event streams.

use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures::spawn_app_with_round;
use crate::helpers::{Device, Reply, Round, TestApp, read, spawn_app_with};
use crate::tokens::{text, tokens_for};

/// `GET /api/v1/devices/{reference}` with `key`, sent from `address` (the test servers
/// trust proxy headers).
async fn get_device_from(app: &TestApp, key: &str, reference: &str, address: &str) -> Reply {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/devices/{reference}")))
        .bearer_auth(key)
        .header("x-forwarded-for", address)
        .send()
        .await
        .expect("request failed");
    read(response).await
}

/// A made-up access token naming the same device as `real`: its device part, then
/// random characters.
fn forged_like(real: &str) -> String {
    let device = &real["edg_at_".len()..][..32];
    format!("edg_at_{device}{}", &"Zz9".repeat(11)[..32])
}

#[tokio::test]
async fn made_up_access_tokens_naming_a_device_do_not_spend_its_budget() {
    let app = spawn_app_with(|c| {
        c.rate_limit_device = 3;
        c.rate_limit_anonymous = 5;
        c.trust_proxy_headers = true;
    })
    .await;
    let body = tokens_for(&app, "phone").await;
    let access = text(&body, "access_token");
    let forged = forged_like(access);
    assert_ne!(forged, access);

    // Well formed, so it is looked up (and refused as unknown), not refused as malformed.
    let first = get_device_from(&app, &forged, "phone", "203.0.113.9").await;
    let message = first.assert_error(401, "unauthorized");
    assert!(message.contains("not known"), "{message}");
    let mut refused = Vec::new();
    for _ in 0..12 {
        let reply = get_device_from(&app, &forged, "phone", "203.0.113.9").await;
        refused.push(reply.status.as_u16());
    }

    // The forger's own address runs out (401s, then 429s)...
    assert!(
        refused.iter().all(|s| *s == 401 || *s == 429),
        "{refused:?}"
    );
    assert_eq!(refused.last(), Some(&429), "{refused:?}");
    // ...while the device, elsewhere, still has its whole budget.
    for n in 0..3 {
        let reply = get_device_from(&app, access, "phone", "198.51.100.1").await;
        assert_eq!(reply.status, StatusCode::OK, "request {n}: {}", reply.body);
    }
    get_device_from(&app, access, "phone", "198.51.100.1")
        .await
        .assert_error(429, "rate_limited");
}

#[tokio::test]
async fn a_verified_access_token_is_charged_to_its_device_not_its_address() {
    let app = spawn_app_with(|c| {
        c.rate_limit_device = 4;
        c.rate_limit_anonymous = 1;
        c.trust_proxy_headers = true;
    })
    .await;
    let body = tokens_for(&app, "phone").await;
    let access = text(&body, "access_token");

    // The first request spends the address's one request; once the token is known valid
    // the address's empty bucket no longer matters, and the device's does.
    for n in 0..4 {
        let reply = get_device_from(&app, access, "phone", "198.51.100.1").await;
        assert_eq!(reply.status, StatusCode::OK, "request {n}: {}", reply.body);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("4"));
    }
    let limited = get_device_from(&app, access, "phone", "198.51.100.1").await;
    let message = limited.assert_error(429, "rate_limited");
    assert!(message.contains("device key"), "{message}");
}

#[tokio::test]
async fn huge_updates_are_clipped_to_the_plan_norm_and_the_result_stays_finite() {
    let (app, round) = spawn_app_with_round(json!({"min_devices": 2})).await;
    let attacker = app.register_device("fl-huge").await;
    let honest = app.register_device("fl-honest").await;

    let huge = app.take_part(&attacker, &round, &[1e308, 1e308], 1).await;
    let fair = app.take_part(&honest, &round, &[0.6, 0.8], 1).await;

    assert_eq!(huge.status, StatusCode::OK, "{}", huge.body);
    assert_eq!(fair.status, StatusCode::OK, "{}", fair.body);
    let result = app
        .get(
            &format!("/api/v1/training/rounds/{}/result", round.id),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    let aggregate: Vec<f64> = serde_json::from_value(result.body["aggregate"].clone())
        .unwrap_or_else(|e| panic!("numbers ({e}): {}", result.body));
    // The huge update counts as one of norm 1 (clip_norm's default): (1/√2, 1/√2).
    let half = std::f64::consts::FRAC_1_SQRT_2;
    let expected = [(half + 0.6) / 2.0, (half + 0.8) / 2.0];
    for (got, want) in aggregate.iter().zip(expected) {
        assert!(
            (got - want).abs() < 1e-9,
            "{aggregate:?} against {expected:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_first_update_is_refused_and_does_not_fix_the_rounds_length() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let first = app.register_device("fl-empty").await;
    let second = app.register_device("fl-real").await;

    let empty = app.take_part(&first, &round, &[], 1).await;
    let real = app.take_part(&second, &round, &[0.1, 0.2], 1).await;

    let message = empty.assert_error(400, "bad_request");
    assert!(message.contains("empty"), "{message}");
    assert_eq!(real.status, StatusCode::OK, "{}", real.body);
    assert_eq!(real.body["updates_received"], 1);
}

/// Joins `device` to `round` and starts an upload of `bytes` bytes, its parts sent.
async fn open_upload_with_parts(app: &TestApp, device: &Device, round: &Round, bytes: usize) {
    let joined = app.join_federated_round(device, round, &device.id).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let upload = app
        .start_upload(device, round, json!({"size": bytes}))
        .await;
    app.upload_parts(device, &upload.part_urls, &vec![b'x'; bytes])
        .await;
}

fn initiate_path(round: &Round) -> String {
    format!("/api/v1/federation/rounds/{}/uploads", round.id)
}

#[tokio::test]
async fn a_device_over_its_open_uploads_gets_409_and_nothing_is_opened() {
    let app = spawn_app_with(|c| c.uploads_per_device = 1).await;
    let round = app.start_round_on_model(json!({})).await;
    let device = app.register_device("fl-many").await;
    open_upload_with_parts(&app, &device, &round, 10).await;

    let again = app
        .post(&initiate_path(&round), Some(&device.key), json!({}))
        .await;

    let message = again.assert_error(409, "conflict");
    assert!(message.contains("--uploads-per-device"), "{message}");
    assert_eq!(app.count_rows("round_uploads"), 1);
}

#[tokio::test]
async fn a_round_over_its_open_uploads_gets_429_with_retry_after() {
    let app = spawn_app_with(|c| c.uploads_per_round = 1).await;
    let round = app.start_round_on_model(json!({})).await;
    let first = app.register_device("fl-first").await;
    let second = app.register_device("fl-second").await;
    open_upload_with_parts(&app, &first, &round, 10).await;
    let joined = app.join_federated_round(&second, &round, &second.id).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);

    let refused = app
        .post(&initiate_path(&round), Some(&second.key), json!({}))
        .await;

    let message = refused.assert_error(429, "rate_limited");
    assert!(message.contains("--uploads-per-round"), "{message}");
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert_eq!(app.count_rows("round_uploads"), 1);
}

#[tokio::test]
async fn the_sweep_deletes_the_uploads_of_a_cancelled_round_and_their_bytes() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-cancelled").await;
    open_upload_with_parts(&app, &device, &round, 4096).await;
    assert_eq!(app.count_rows("round_upload_parts"), 1);

    app.end_round(Some(app.secret_key()), &round.id, "cancel")
        .await;
    app.server.sweep().await;

    assert_eq!(app.count_rows("round_uploads"), 0);
    assert_eq!(app.count_rows("round_upload_parts"), 0);
}

#[tokio::test]
async fn the_sweep_deletes_uploads_abandoned_past_their_time_and_keeps_fresh_ones() {
    let app = spawn_app_with(|c| c.upload_abandon_after = 600).await;
    let round = app.start_round_on_model(json!({})).await;
    let stale = app.register_device("fl-stale").await;
    let fresh = app.register_device("fl-fresh").await;
    open_upload_with_parts(&app, &stale, &round, 4096).await;
    app.server.advance_clock(400);
    open_upload_with_parts(&app, &fresh, &round, 4096).await;

    app.server.advance_clock(201);
    app.server.sweep().await;

    assert_eq!(app.count_rows("round_uploads"), 1);
    assert_eq!(app.count_rows("round_upload_parts"), 1);
    let kept = app
        .server
        .db()
        .read_sync(|conn| {
            conn.query_row("SELECT device_id FROM round_uploads", &[], |r| {
                r.get::<String>(0)
            })
        })
        .unwrap();
    assert_eq!(kept, fresh.id);
}
