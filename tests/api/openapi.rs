//! The OpenAPI document: served, printed, and true to the route table.

use std::collections::BTreeSet;
use std::process::Command;

use devreg::routes::ROUTES;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn served_document(app: &TestApp) -> Value {
    let reply = app.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.body
}

/// Every (method, path) the document describes.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| ((*m).to_owned(), path.clone()))
        })
        .collect()
}

/// Whether the route pattern `pattern` (`/a/{x}/b`) matches the concrete path `path`.
fn matches(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<_>, Vec<_>) =
        (pattern.split('/').collect(), path.split('/').collect());
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| p == s || (p.starts_with('{') && p.ends_with('}')))
}

#[tokio::test]
async fn every_route_of_the_route_table_is_documented_and_every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let documented = operations(&served_document(&app).await);

    // The rule: every API operation of the table is documented; the console's pages
    // (HTML and its files, under `pages:` in the table) are not API and are left out.
    for route in ROUTES.iter().filter(|r| !r.page) {
        let (method, path) = (route.method, route.path);
        assert!(
            documented.contains(&((*method).to_owned(), (*path).to_owned())),
            "the route table serves {method} {path} but the document does not describe it"
        );
    }
    for (method, path) in &documented {
        assert!(
            ROUTES
                .iter()
                .any(|r| !r.page && r.method == method && matches(r.path, path)),
            "the document describes {method} {path} but no route serves it"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_reaches_a_handler_on_a_live_server() {
    let app = spawn_app().await;
    let documented = operations(&served_document(&app).await);

    for (method, path) in documented {
        // Any value will do for a path parameter: a handler's 404 says it was reached.
        let concrete: String = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), app.url(&concrete))
            .bearer_auth(app.secret_key())
            .send()
            .await
            .unwrap();
        let status = response.status();
        // An event stream never ends; its 200 says it was reached.
        let streaming = response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
        let body = if streaming {
            String::new()
        } else {
            response.text().await.unwrap()
        };
        assert_ne!(status, 405, "{method} {concrete}: {body}");
        assert!(
            !body.contains("no route matches"),
            "{method} {concrete} is documented but not routed: {body}"
        );
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_credentials_and_error_bodies_on_every_operation() {
    let app = spawn_app().await;
    let document = served_document(&app).await;

    assert_eq!(document["openapi"], "3.1.0");
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][&method];
        let label = format!("{method} {path}");
        assert!(
            operation["x-credential-kinds"].is_array(),
            "{label} says which credentials it takes"
        );
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.contains_key("500"), "{label} documents its 500");
        for (status, response) in responses {
            assert_eq!(
                response["headers"]["X-Request-Id"]["required"], true,
                "{label} {status} documents X-Request-Id as always sent"
            );
            if !status.starts_with('2') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{label} {status} has the error body"
                );
            }
        }
    }
    let reset = &document["paths"]["/_devreg/reset"]["post"]["description"];
    assert!(
        reset.as_str().unwrap().contains("--ephemeral"),
        "the reset says it exists only in ephemeral mode: {reset}"
    );
}

#[tokio::test]
async fn the_list_parameters_carry_their_ranges_and_defaults() {
    let app = spawn_app().await;
    let document = served_document(&app).await;

    let parameters = document["paths"]["/api/v1/devices"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let named = |name: &str| {
        parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} parameter"))
    };
    assert_eq!(named("org_id")["required"], true);
    let limit = &named("limit")["schema"];
    assert_eq!(
        (&limit["minimum"], &limit["maximum"], &limit["default"]),
        (&Value::from(1), &Value::from(1000), &Value::from(100))
    );
    assert_eq!(named("offset")["schema"]["minimum"], 0);
}

#[tokio::test]
async fn the_register_body_documents_every_alias_and_sdk_field() {
    let app = spawn_app().await;
    let document = served_document(&app).await;

    let text = document["components"]["schemas"]["RegisterRequest"].to_string();
    for field in [
        "device_id",
        "device_identifier",
        "platform",
        "capabilities",
        "org_id",
        "metadata",
        "os_version",
        "battery_pct",
        "installation_id",
        "device_info",
    ] {
        assert!(
            text.contains(&format!("\"{field}\"")),
            "RegisterRequest lacks {field}"
        );
    }
    let registered = document["components"]["schemas"]["RegisteredDevice"]["required"]
        .as_array()
        .unwrap();
    for field in [
        "api_key",
        "access_token",
        "registered_at",
        "heartbeat_interval_seconds",
    ] {
        assert!(registered.contains(&Value::from(field)), "{field}");
    }
}

#[tokio::test]
async fn devreg_openapi_prints_the_served_document_without_starting_a_server() {
    let app = spawn_app().await;
    let served = served_document(&app).await;
    let dir = tempfile::tempdir().unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(["openapi", "--ephemeral"])
        .current_dir(dir.path())
        .env_remove("DEVREG_DB")
        .output()
        .expect("run devreg openapi");

    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(printed, served);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "devreg openapi opened no database"
    );
}
