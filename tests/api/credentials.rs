//! The credential matrix of docs/api.md ("Credentials"): every endpoint against every kind of caller.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Register,
    Retrieve,
    List,
    Heartbeat,
}

/// Calls `endpoint` with `key`, on the target device "target" of org_demo.
async fn call(app: &TestApp, endpoint: Endpoint, key: Option<&str>, n: usize) -> StatusCode {
    let reply = match endpoint {
        Endpoint::Register => {
            app.register(key, json!({"device_id": format!("new-{n}")}))
                .await
        }
        Endpoint::Retrieve => app.get_device(key, "target").await,
        Endpoint::List => app.list(key, "org_id=org_demo").await,
        Endpoint::Heartbeat => app.heartbeat(key, "target", None).await,
    };
    if !reply.status.is_success() {
        // Every refusal carries the contract's body.
        reply.assert_error(reply.status.as_u16(), reply.body["error"].as_str().unwrap());
    }
    reply.status
}

#[tokio::test]
async fn each_endpoint_gives_each_caller_the_status_the_contract_gives() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let target = app.register_device("target").await;
    let neighbour = app.register_device("neighbour").await;
    let revoked_device = app.register_device("revoked").await;
    devreg::admin::revoke_key(app.server.db(), &revoked_device.key).unwrap();
    let revoked_secret =
        devreg::admin::create_key(app.server.db(), "org_demo", devreg::domain::KeyKind::Secret)
            .unwrap();
    devreg::admin::revoke_key(app.server.db(), revoked_secret.expose()).unwrap();
    let unknown = format!("edg_live_{}", "A".repeat(32));

    use Endpoint::*;
    let callers: Vec<(&str, Option<&str>, [u16; 4])> = vec![
        //                                          register retrieve list heartbeat
        ("no key", None, [201, 401, 401, 401]),
        ("malformed key", Some("not-a-key"), [401, 401, 401, 401]),
        ("unknown key", Some(&unknown), [401, 401, 401, 401]),
        (
            "revoked device key",
            Some(&revoked_device.key),
            [401, 401, 401, 401],
        ),
        (
            "revoked secret key",
            Some(revoked_secret.expose()),
            [401, 401, 401, 401],
        ),
        ("secret key", Some(app.secret_key()), [201, 200, 200, 200]),
        (
            "publishable key",
            Some(app.publishable_key()),
            [201, 403, 403, 200],
        ),
        (
            "the device's own key",
            Some(&target.key),
            [403, 200, 403, 200],
        ),
        (
            "another org's secret key",
            Some(&other.secret_key),
            [201, 404, 403, 404],
        ),
        (
            "another org's publishable key",
            Some(&other.publishable_key),
            [201, 403, 403, 404],
        ),
        (
            "another device's key",
            Some(&neighbour.key),
            [403, 404, 403, 404],
        ),
    ];

    let mut n = 0;
    for (who, key, expected) in &callers {
        for (endpoint, want) in [Register, Retrieve, List, Heartbeat]
            .into_iter()
            .zip(expected)
        {
            n += 1;
            let got = call(&app, endpoint, *key, n).await;
            assert_eq!(got.as_u16(), *want, "{who} on {endpoint:?}");
        }
    }

    // The callers of this org that the table lets through are exactly the credential kinds
    // the server's own document gives each operation.
    let document = app.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(document.status, StatusCode::OK);
    let kind_of = [
        ("no key", "none"),
        ("secret key", "secret"),
        ("publishable key", "publishable"),
        ("the device's own key", "device"),
    ];
    for (column, (path, method)) in [
        ("/api/v1/devices/register", "post"),
        ("/api/v1/devices/{device_id}", "get"),
        ("/api/v1/devices", "get"),
        ("/api/v1/devices/{device_id}/heartbeat", "post"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut served: Vec<&str> = kind_of
            .iter()
            .filter(|(who, _)| {
                let row = callers.iter().find(|c| c.0 == *who).unwrap();
                (200..300).contains(&row.2[column])
            })
            .map(|(_, kind)| *kind)
            .collect();
        let mut documented: Vec<&str> = document.body["paths"][path][method]["x-credential-kinds"]
            .as_array()
            .unwrap_or_else(|| panic!("no x-credential-kinds on {method} {path}"))
            .iter()
            .map(|k| k.as_str().unwrap())
            .filter(|k| kind_of.iter().any(|(_, kind)| kind == k))
            .collect();
        if path == "/api/v1/devices/register" {
            // A device's own credential registers its own device again (200), never a
            // new one (the 403 above): tests/api/register_again.rs.
            served.push("device");
        }
        served.sort_unstable();
        documented.sort_unstable();
        assert_eq!(served, documented, "{method} {path}");
    }

    // The target device is still there, as it was.
    let target_now = app.get_device(Some(&target.key), "target").await;
    assert_eq!(target_now.status, StatusCode::OK, "{}", target_now.body);
    assert_eq!(target_now.body["id"], target.id.as_str());
}

#[tokio::test]
async fn another_orgs_key_never_reaches_this_orgs_device_even_by_uuid() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let device = app.register_device("secret-device").await;

    let read = app.get_device(Some(&other.secret_key), &device.id).await;
    let beat = app
        .heartbeat(
            Some(&other.secret_key),
            &device.id,
            Some(json!({"status": "inactive"})),
        )
        .await;

    read.assert_error(404, "not_found");
    beat.assert_error(404, "not_found");
    let stored = app.get_device(Some(app.secret_key()), &device.id).await;
    assert_eq!(stored.body["status"], "active");
    assert!(stored.body["last_heartbeat"].is_null());
}

#[tokio::test]
async fn listing_another_orgs_devices_is_403() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");

    let reply = app
        .list(Some(app.secret_key()), &format!("org_id={}", other.id))
        .await;

    let message = reply.assert_error(403, "forbidden");
    assert!(message.contains("org_other"), "{message}");
}

#[tokio::test]
async fn the_x_api_key_header_works_like_bearer() {
    let app = spawn_app().await;
    app.register_device("x-1").await;

    let response = app
        .client
        .get(app.url("/api/v1/devices/x-1"))
        .header("X-API-Key", app.secret_key())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_authorization_header_without_bearer_is_401() {
    let app = spawn_app().await;

    let reply = crate::helpers::read(
        app.client
            .get(app.url("/api/v1/devices?org_id=org_demo"))
            .header("Authorization", format!("Basic {}", app.secret_key()))
            .send()
            .await
            .unwrap(),
    )
    .await;

    reply.assert_error(401, "unauthorized");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once() {
    let app = spawn_app().await;
    let device = app.register_device("soon-revoked").await;
    assert_eq!(
        app.heartbeat(Some(&device.key), &device.id, None)
            .await
            .status,
        StatusCode::OK
    );

    devreg::admin::revoke_key(app.server.db(), &device.key).unwrap();
    let reply = app
        .send(
            Method::PUT,
            &format!("/api/v1/devices/{}/heartbeat", device.id),
            Some(&device.key),
            None,
        )
        .await;

    let message = reply.assert_error(401, "unauthorized");
    assert!(message.contains("revoked"), "{message}");
}
