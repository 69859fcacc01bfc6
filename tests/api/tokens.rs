//! Device tokens: bootstrap tokens, access tokens that work where the device's
//! key works, refresh rotation with reuse detection, revocation, expiry by the test clock.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with, spawn_sqlite_app_with};
use crate::redact;

async fn post(app: &TestApp, path: &str, key: Option<&str>, body: Value) -> Reply {
    app.send(Method::POST, path, key, Some(&body.to_string()))
        .await
}

/// Mints a bootstrap token with the secret key; panics unless 201.
async fn mint(app: &TestApp, body: Value) -> String {
    let reply = post(
        app,
        "/api/v1/device-auth/bootstrap-tokens",
        Some(app.secret_key()),
        body,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["token"].as_str().unwrap().to_owned()
}

async fn bootstrap(app: &TestApp, token: &str, body: Value) -> Reply {
    post(app, "/api/v1/device-auth/bootstrap", Some(token), body).await
}

/// Bootstraps `identifier` with a fresh one-use token; panics unless 200.
pub(crate) async fn tokens_for(app: &TestApp, identifier: &str) -> Value {
    let token = mint(app, json!({})).await;
    let reply = bootstrap(
        app,
        &token,
        json!({"org_id": "org_demo", "device_identifier": identifier}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

pub(crate) async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    post(
        app,
        "/api/v1/device-auth/refresh",
        None,
        json!({"refresh_token": refresh_token}),
    )
    .await
}

pub(crate) fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

#[tokio::test]
async fn minting_needs_the_secret_key_and_defaults_to_one_use_for_an_hour() {
    let app = spawn_app().await;
    let device = app.register_device("d1").await;
    let path = "/api/v1/device-auth/bootstrap-tokens";
    post(&app, path, None, json!({}))
        .await
        .assert_error(401, "unauthorized");
    post(&app, path, Some(app.publishable_key()), json!({}))
        .await
        .assert_error(403, "forbidden");
    post(&app, path, Some(&device.key), json!({}))
        .await
        .assert_error(403, "forbidden");

    let earliest = devreg::domain::Timestamp(app.server.now().0 + 3600);
    let reply = post(&app, path, Some(app.secret_key()), json!({})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let in_an_hour = devreg::domain::Timestamp(app.server.now().0 + 3600);
    let token = text(&reply.body, "token");
    insta::assert_json_snapshot!(reply.body, {
        ".token" => redact::prefixed("edg_bt_"),
        ".prefix" => redact::is(&token[.."edg_bt_".len() + 6], "[the token's first 13 characters]"),
        ".expires_at" => redact::time_within(earliest, in_an_hour, "[in an hour]"),
    });
}

#[tokio::test]
async fn minting_refuses_numbers_out_of_range_naming_the_field() {
    let app = spawn_app().await;
    let path = "/api/v1/device-auth/bootstrap-tokens";
    let key = Some(app.secret_key());
    let message = post(&app, path, key, json!({"ttl_seconds": 0}))
        .await
        .assert_error(400, "bad_request")
        .to_owned();
    assert!(message.contains("ttl_seconds"), "{message}");
    let message = post(&app, path, key, json!({"max_uses": 0}))
        .await
        .assert_error(400, "bad_request")
        .to_owned();
    assert!(message.contains("max_uses"), "{message}");
    let message = post(&app, path, key, json!({"max_uses": "two"}))
        .await
        .assert_error(400, "bad_request")
        .to_owned();
    assert!(message.contains("max_uses"), "{message}");
}

#[tokio::test]
async fn bootstrap_registers_a_new_device_and_answers_what_every_sdk_requires() {
    let app = spawn_app().await;
    let body = tokens_for(&app, "phone-1").await;
    assert_eq!(body["access_token"], body["token"]);
    insta::assert_json_snapshot!(body, {
        ".access_token" => redact::prefixed("edg_at_"),
        ".token" => redact::prefixed("edg_at_"),
        ".refresh_token" => redact::prefixed("edg_rt_"),
        ".expires_at" => redact::time(),
        ".refresh_expires_at" => redact::time(),
        ".id" => redact::uuid(),
    });
    // Registered: the secret key sees it.
    let got = app.get_device(Some(app.secret_key()), "phone-1").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["id"], body["id"]);
}

#[tokio::test]
async fn an_access_token_works_wherever_the_device_key_works_and_only_there() {
    let app = spawn_app().await;
    let other = app.register_device("other").await;
    let body = tokens_for(&app, "phone-1").await;
    let access = text(&body, "access_token");
    let id = text(&body, "id");
    assert_eq!(
        app.get_device(Some(access), id).await.status,
        StatusCode::OK
    );
    let beat = app
        .heartbeat(Some(access), id, Some(json!({"status": "active"})))
        .await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
    let listed = app
        .send(
            Method::GET,
            &format!("/api/v1/devices/{id}/telemetry"),
            Some(access),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    // Not another device's, not an org key's operations.
    app.get_device(Some(access), &other.id)
        .await
        .assert_error(404, "not_found");
    app.heartbeat(Some(access), &other.id, None)
        .await
        .assert_error(404, "not_found");
    app.list(Some(access), "org_id=org_demo")
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn bootstrapping_an_existing_device_is_409_and_it_keeps_its_key() {
    let app = spawn_app().await;
    let device = app.register_device("kiosk").await;
    let token = mint(&app, json!({})).await;
    bootstrap(&app, &token, json!({"device_id": device.id}))
        .await
        .assert_error(409, "conflict");
    assert_eq!(
        app.get_device(Some(&device.key), "kiosk").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_bootstrap_token_serves_max_uses_bootstraps_then_is_401() {
    let app = spawn_app().await;
    let once = mint(&app, json!({})).await;
    assert_eq!(
        bootstrap(&app, &once, json!({"device_identifier": "a"}))
            .await
            .status,
        StatusCode::OK
    );
    let message = bootstrap(&app, &once, json!({"device_identifier": "b"}))
        .await
        .assert_error(401, "unauthorized")
        .to_owned();
    assert!(message.contains("used up"), "{message}");

    let twice = mint(&app, json!({"max_uses": 2})).await;
    for name in ["c", "d"] {
        assert_eq!(
            bootstrap(&app, &twice, json!({"device_identifier": name}))
                .await
                .status,
            StatusCode::OK
        );
    }
    bootstrap(&app, &twice, json!({"device_identifier": "e"}))
        .await
        .assert_error(401, "unauthorized");
    // A refused bootstrap registered nothing.
    app.get_device(Some(app.secret_key()), "b")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_bootstrap_token_expires_with_the_server_clock() {
    let app = spawn_app().await;
    let token = mint(&app, json!({"ttl_seconds": 60})).await;
    app.server.advance_clock(61);
    let message = bootstrap(&app, &token, json!({"device_identifier": "late"}))
        .await
        .assert_error(401, "unauthorized")
        .to_owned();
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn bootstrap_needs_a_bootstrap_token_not_a_key() {
    let app = spawn_app().await;
    let body = json!({"device_identifier": "x"});
    // A valid key that this operation does not take: 403, as the contract has it.
    let refused = bootstrap(&app, app.secret_key(), body.clone()).await;
    assert!(
        refused
            .assert_error(403, "forbidden")
            .contains("bootstrap token")
    );
    post(&app, "/api/v1/device-auth/bootstrap", None, body.clone())
        .await
        .assert_error(401, "unauthorized");
    let unknown = format!("edg_bt_{}", "A".repeat(32));
    bootstrap(&app, &unknown, body)
        .await
        .assert_error(401, "unauthorized");
    let token = mint(&app, json!({})).await;
    bootstrap(&app, &token, json!({}))
        .await
        .assert_error(400, "bad_request");
}

#[tokio::test]
async fn bootstrap_naming_another_org_is_403_and_its_device_uuid_404() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let theirs = app
        .register_device_with(&other.secret_key, json!({"device_id": "theirs"}))
        .await;
    let token = mint(&app, json!({"max_uses": 5})).await;
    // Another org's device is as absent as one that never was (hardening_more.rs).
    bootstrap(&app, &token, json!({"device_id": theirs.id}))
        .await
        .assert_error(404, "not_found");
    bootstrap(
        &app,
        &token,
        json!({"org_id": "org_other", "device_identifier": "x"}),
    )
    .await
    .assert_error(403, "forbidden");
    // The same identifier in this org is another device: fine.
    assert_eq!(
        bootstrap(&app, &token, json!({"device_identifier": "theirs"}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_rotates_both_tokens_and_the_old_access_token_keeps_working_until_expiry() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "phone").await;
    let reply = refresh(&app, text(&first, "refresh_token")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let second = reply.body;
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["device_identifier"], "phone");
    for access in [text(&first, "access_token"), text(&second, "access_token")] {
        assert_eq!(
            app.get_device(Some(access), "phone").await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_reused_refresh_token_is_401_and_revokes_its_whole_family() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "phone").await;
    let other = tokens_for(&app, "tablet").await;
    let second = refresh(&app, text(&first, "refresh_token")).await.body;
    // Past the grace period in which a lost answer may be retried (token_hardening.rs).
    app.server.advance_clock(61);
    let message = refresh(&app, text(&first, "refresh_token"))
        .await
        .assert_error(401, "unauthorized")
        .to_owned();
    assert!(message.contains("already used"), "{message}");
    // Every token of the family is dead, the newest included.
    refresh(&app, text(&second, "refresh_token"))
        .await
        .assert_error(401, "unauthorized");
    for access in [text(&first, "access_token"), text(&second, "access_token")] {
        let message = app
            .get_device(Some(access), "phone")
            .await
            .assert_error(401, "unauthorized")
            .to_owned();
        assert!(message.contains("revoked"), "{message}");
    }
    // Another device's family is untouched.
    assert_eq!(
        app.get_device(Some(text(&other, "access_token")), "tablet")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unknown_or_malformed_refresh_token_is_401() {
    let app = spawn_app().await;
    refresh(&app, &format!("edg_rt_{}", "B".repeat(32)))
        .await
        .assert_error(401, "unauthorized");
    refresh(&app, "nonsense")
        .await
        .assert_error(401, "unauthorized");
    post(&app, "/api/v1/device-auth/refresh", None, json!({}))
        .await
        .assert_error(400, "bad_request");
}

#[tokio::test]
async fn an_expired_access_token_is_401_saying_so_and_refresh_brings_a_new_one() {
    let app = spawn_app().await;
    let token = mint(&app, json!({})).await;
    let body = bootstrap(
        &app,
        &token,
        json!({"device_identifier": "phone", "access_ttl_seconds": 60}),
    )
    .await
    .body;
    assert_eq!(body["expires_in"], 60);
    let access = text(&body, "access_token");
    app.server.advance_clock(59);
    assert_eq!(
        app.get_device(Some(access), "phone").await.status,
        StatusCode::OK
    );
    app.server.advance_clock(1);
    let message = app
        .get_device(Some(access), "phone")
        .await
        .assert_error(401, "unauthorized")
        .to_owned();
    assert!(message.contains("expired"), "{message}");
    let beat = app.heartbeat(Some(access), "phone", None).await;
    assert!(beat.assert_error(401, "unauthorized").contains("expired"));
    let renewed = refresh(&app, text(&body, "refresh_token")).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.body);
    assert_eq!(
        app.get_device(Some(text(&renewed.body, "access_token")), "phone")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_browser_paths_refresh_and_revoke_with_their_own_bodies() {
    let app = spawn_app().await;
    let first = tokens_for(&app, "tab").await;
    let reply = post(
        &app,
        "/api/v1/auth/refresh",
        Some(app.publishable_key()),
        json!({"refresh_token": first["refresh_token"], "device_id": "tab"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    for field in ["token", "expires_at", "refresh_token"] {
        assert!(reply.body[field].is_string(), "{field}");
    }
    let access = text(&reply.body, "token");
    let revoked = post(
        &app,
        "/api/v1/auth/revoke",
        Some(app.publishable_key()),
        json!({"token": access, "device_id": "tab"}),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(revoked.body["revoked"], true);
    app.get_device(Some(access), "tab")
        .await
        .assert_error(401, "unauthorized");
    refresh(&app, text(&reply.body, "refresh_token"))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn revoke_takes_the_python_body_and_an_unknown_token_is_no_error() {
    let app = spawn_app().await;
    let body = tokens_for(&app, "phone").await;
    let path = "/api/v1/device-auth/revoke";
    let reply = post(
        &app,
        path,
        None,
        json!({"refresh_token": body["refresh_token"], "reason": "sdk_revoke"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["revoked"], true);
    refresh(&app, text(&body, "refresh_token"))
        .await
        .assert_error(401, "unauthorized");
    let again = post(
        &app,
        path,
        None,
        json!({"refresh_token": body["refresh_token"]}),
    )
    .await;
    assert_eq!(again.body["revoked"], false);
    let unknown = post(&app, path, None, json!({"refresh_token": "whatever"})).await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.body["revoked"], false);
    post(&app, path, None, json!({}))
        .await
        .assert_error(400, "bad_request");
}

#[tokio::test]
async fn revoking_the_device_key_ends_its_tokens() {
    let app = spawn_app().await;
    let body = tokens_for(&app, "kiosk").await;
    // A new key for the device revokes the one its tokens were issued under.
    let rekeyed = post(
        &app,
        "/api/v1/devices/kiosk/keys",
        Some(app.secret_key()),
        json!({}),
    )
    .await;
    assert_eq!(rekeyed.status, StatusCode::CREATED, "{}", rekeyed.body);
    let message = app
        .get_device(Some(text(&body, "access_token")), "kiosk")
        .await
        .assert_error(401, "unauthorized")
        .to_owned();
    assert!(message.contains("key has been revoked"), "{message}");
    refresh(&app, text(&body, "refresh_token"))
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn deleting_the_device_deletes_its_tokens() {
    let app = spawn_app().await;
    let body = tokens_for(&app, "gone").await;
    let id = text(&body, "id").to_owned();
    assert_eq!(app.count_rows("device_tokens"), 2);
    let deleted = app
        .send(
            Method::DELETE,
            &format!("/api/v1/devices/{id}"),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(app.count_rows("device_tokens"), 0);
    app.get_device(Some(text(&body, "access_token")), &id)
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn only_digests_of_tokens_are_stored() {
    // It dumps every column of the token tables through rusqlite: on SQLite whatever
    // DEVREG_TEST_DB says.
    let app = spawn_sqlite_app_with(|_| {}).await;
    let token = mint(&app, json!({})).await;
    let body = bootstrap(&app, &token, json!({"device_identifier": "p"}))
        .await
        .body;
    let dump: String = app
        .server
        .db()
        .read_sync(|c| {
            let c = c.sqlite("the test's dump of every column")?;
            let mut all = String::new();
            for table in ["device_tokens", "bootstrap_tokens"] {
                let mut s = c.prepare(&format!("SELECT * FROM {table}"))?;
                let n = s.column_count();
                let mut rows = s.query([])?;
                while let Some(row) = rows.next()? {
                    for i in 0..n {
                        if let Ok(text) = row.get::<_, String>(i) {
                            all.push_str(&text);
                        }
                        if let Ok(blob) = row.get::<_, Vec<u8>>(i) {
                            all.push_str(&String::from_utf8_lossy(&blob));
                        }
                    }
                }
            }
            Ok::<_, devreg::store::StoreError>(all)
        })
        .unwrap();
    for secret in [
        token.as_str(),
        text(&body, "access_token"),
        text(&body, "refresh_token"),
    ] {
        assert!(!dump.contains(secret), "a token is stored in the clear");
    }
}

#[tokio::test]
async fn an_access_token_is_charged_to_its_device_bucket_across_refreshes() {
    let app = spawn_app_with(|c| c.rate_limit_device = 2).await;
    let body = tokens_for(&app, "phone").await;
    let access = text(&body, "access_token");
    for _ in 0..2 {
        assert_eq!(
            app.get_device(Some(access), "phone").await.status,
            StatusCode::OK
        );
    }
    app.get_device(Some(access), "phone")
        .await
        .assert_error(429, "rate_limited");
    // A refreshed token is the same device: the same bucket, still empty. Its first
    // request is charged to its address (it is not yet known valid), the next to the
    // device.
    let renewed = refresh(&app, text(&body, "refresh_token")).await.body;
    let renewed = text(&renewed, "access_token");
    assert_eq!(
        app.get_device(Some(renewed), "phone").await.status,
        StatusCode::OK
    );
    app.get_device(Some(renewed), "phone")
        .await
        .assert_error(429, "rate_limited");
}
