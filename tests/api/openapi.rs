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

/// What the route table serves, as the document must list it: every API route's (method,
/// path), aliases included, and for a path without parameters the methods a pattern of
/// the table serves there (its guard lets them through to that pattern's handler).
fn table_operations() -> BTreeSet<(String, String)> {
    let api: Vec<_> = ROUTES.iter().filter(|r| !r.page).collect();
    let mut expected: BTreeSet<(String, String)> = api
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    for concrete in api.iter().filter(|r| !r.path.contains('{')) {
        for pattern in api.iter().filter(|r| matches(r.path, concrete.path)) {
            let own = api
                .iter()
                .any(|r| r.path == concrete.path && r.method == pattern.method);
            if !own {
                expected.insert((pattern.method.to_owned(), concrete.path.to_owned()));
            }
        }
    }
    expected
}

#[tokio::test]
async fn the_documents_operations_are_exactly_the_route_tables_aliases_included() {
    let app = spawn_app().await;
    let document = served_document(&app).await;

    assert_eq!(operations(&document), table_operations());
    let mut ids = BTreeSet::new();
    for (method, path) in operations(&document) {
        let id = document["paths"][&path][&method]["operationId"]
            .as_str()
            .unwrap();
        assert!(ids.insert(id.to_owned()), "{method} {path}: {id} twice");
    }
    // Today's ids stay, aliases' included: generated clients name their calls by them.
    for (method, path, id) in [
        (
            "put",
            "/api/v1/devices/{device_id}/heartbeat",
            "record_heartbeat",
        ),
        (
            "post",
            "/api/v1/devices/{device_id}/heartbeat",
            "record_heartbeat_post",
        ),
        ("post", "/api/v1/auth/refresh", "refresh_browser_tokens"),
        ("post", "/api/v1/auth/revoke", "revoke_browser_tokens"),
        (
            "post",
            "/api/v1/federation/rounds/{round_id}/updates/initiate",
            "initiate_update",
        ),
        (
            "post",
            "/api/v1/federation/rounds/{round_id}/updates/{upload_id}/complete",
            "complete_update",
        ),
        (
            "get",
            "/api/v1/devices/register",
            "get_device_named_register",
        ),
    ] {
        assert_eq!(document["paths"][path][method]["operationId"], id);
    }
}

#[test]
fn every_routes_method_is_one_its_handlers_attribute_names() {
    for route in ROUTES.iter().filter(|r| !r.page) {
        let doc = route.doc.expect("an API route is documented");
        let named: Vec<String> = (doc.methods)()
            .into_iter()
            .map(|m| {
                serde_json::to_value(m)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert!(
            named.iter().any(|m| m == route.method),
            "{} {}: its #[utoipa::path] names {named:?}",
            route.method,
            route.path
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
            // A redirect (a version's download elsewhere) has no body; every error has one.
            if !status.starts_with('2') && !status.starts_with('3') {
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
