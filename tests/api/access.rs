//! The access table against the server: every route of the route table, called with each
//! kind of credential, is served or refused exactly as the OpenAPI document (generated from
//! the same table) says.

use devreg::auth::Target;
use devreg::routes::ROUTES;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// The credentials the document names, in `x-credential-kinds` terms, and a device
/// credential of another device than the one the path names ("other-device").
const KINDS: [&str; 5] = ["secret", "publishable", "device", "other-device", "none"];

/// A concrete path for `pattern`: a fresh device and round for their parameters (so an
/// operation that deletes or ends one leaves the next check its own), anything else a
/// name that resolves to nothing, which is a 404 after the access check, not before it.
async fn concrete_path(app: &TestApp, pattern: &str, device_id: &str) -> String {
    let mut path = String::new();
    for segment in pattern.split('/').skip(1) {
        path.push('/');
        match segment {
            "{device_id}" => path.push_str(device_id),
            "{round_id}" => path.push_str(&app.start_round_ok(json!({})).await.id),
            s if s.starts_with('{') => path.push_str("nothing-here"),
            s => path.push_str(s),
        }
    }
    // List endpoints want their org; the reset must not wipe the server under the test.
    let org = if pattern.starts_with("/_devreg/") {
        "org_nothing"
    } else {
        "org_demo"
    };
    format!("{path}?org_id={org}")
}

/// The status of `method path` with `key`: only the status, so a stream that never ends
/// (Server-Sent Events) is no obstacle.
async fn status_of(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> u16 {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if method != Method::GET && method != Method::DELETE {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    request
        .send()
        .await
        .expect("request failed")
        .status()
        .as_u16()
}

#[tokio::test]
async fn every_route_serves_and_refuses_each_credential_as_its_document_says() {
    let app = spawn_app().await;
    let document = app
        .send(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let mut checked = 0;
    // The console's pages are not in the document; tests/api/console.rs checks them.
    let operations: Vec<_> = ROUTES.iter().filter(|r| !r.page).collect();
    for route in &operations {
        let operation = &document["paths"][route.path][route.method];
        let documented: Vec<&str> = operation["x-credential-kinds"]
            .as_array()
            .unwrap_or_else(|| panic!("{} {} is documented", route.method, route.path))
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let public = documented.is_empty();
        for kind in KINDS {
            // Fresh for every call: the call may delete, re-key or end what it is given.
            let device = app.register_device(&format!("matrix-{checked}")).await;
            let key = match kind {
                "secret" => Some(app.secret_key().to_owned()),
                "publishable" => Some(app.publishable_key().to_owned()),
                "device" => Some(device.key.clone()),
                "other-device" => {
                    let other = app
                        .register_device(&format!("matrix-{checked}-other"))
                        .await;
                    Some(other.key)
                }
                _ => None,
            };
            let path = concrete_path(&app, route.path, &device.id).await;
            let status = status_of(&app, route.method, &path, key.as_deref()).await;
            let label = format!("{} {path} with {kind}", route.method);
            let kind = if kind == "other-device" {
                "device"
            } else {
                kind
            };
            let another_device = key.as_deref() != Some(device.key.as_str()) && kind == "device";
            if another_device
                && route.access.target == Target::PathDevice
                && documented.contains(&kind)
            {
                // The own-device rule: another device is as absent as one of another org.
                assert_eq!(status, 404, "{label}: another device's credential is a 404");
                assert!(
                    operation["responses"]["404"].is_object(),
                    "{label}: the document lists the 404"
                );
            } else if public || documented.contains(&kind) {
                assert!(
                    status != 401 && status != 403,
                    "{label}: the document says it is served, the server answered {status}"
                );
            } else {
                let refused = if kind == "none" { 401 } else { 403 };
                assert_eq!(
                    status, refused,
                    "{label}: the document says it is refused, the server answered {status}"
                );
                assert!(
                    operation["responses"][refused.to_string()].is_object(),
                    "{label}: the document lists the {refused} it answers"
                );
            }
            checked += 1;
        }
        // An operation on a device its request names documents the 404 of a device the
        // caller cannot see, unless it answers an unknown device by asking for its
        // registration (OTLP's 200 with `x-device-needs-registration`).
        let asks_for_registration =
            operation["responses"]["200"]["headers"]["x-device-needs-registration"].is_object();
        if route.access.target.named_by_request() && !asks_for_registration {
            assert!(
                operation["responses"]["404"].is_object(),
                "{} {}: acts on a device, so its 404 is documented",
                route.method,
                route.path
            );
        }
        // What the table says is what the document says.
        let table: Vec<&str> = route.access.allows.iter().map(|a| a.name()).collect();
        assert_eq!(documented, table, "{} {}", route.method, route.path);
        let credentials = operation["description"].as_str().unwrap_or_default();
        assert!(
            credentials.ends_with(&route.access.credentials_line()),
            "{} {}: the description ends with its Credentials line: {credentials}",
            route.method,
            route.path
        );
    }
    assert_eq!(checked, operations.len() * KINDS.len());
}

#[tokio::test]
async fn a_server_that_is_not_ephemeral_documents_no_test_control_and_devreg_openapi_prints_it() {
    let app = crate::helpers::spawn_app_with(|c| c.ephemeral = false).await;
    let served = app
        .send(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let paths = served["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.starts_with("/_devreg/")),
        "{:?}",
        paths.keys()
    );
    let reset = app.send(Method::POST, "/_devreg/reset", None, None).await;
    reset.assert_error(404, "not_found");

    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_devreg"))
        .arg("openapi")
        .current_dir(dir.path())
        .output()
        .expect("run devreg openapi");
    let printed: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(printed, served);
}
