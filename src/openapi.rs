//! The OpenAPI 3.1 document of everything a devreg server serves, generated from the code:
//! its paths from the route table ([`crate::routes::ROUTES`]), each route's operation from
//! its handler's `#[utoipa::path]` (only what is particular to it), the request and
//! response types' `ToSchema` derives, the domain types' schemas in [`crate::schema`],
//! and the routes' [`Access`] rules, from which every operation's credentials, security
//! and 401/403 responses come. Responses every operation of a kind shares are added by
//! rule, below. `GET /openapi.json` serves it and `devreg openapi` prints it.

use std::sync::OnceLock;

use actix_web::ResponseError;
use actix_web::http::StatusCode;
use serde_json::{Value, json};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{SchemaType, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};
use utoipa::{Modify, OpenApi};

use crate::auth::{Access, Allow};
use crate::error::{ApiError, ErrorBody};
use crate::ratelimit::UNLIMITED_PATHS;
use crate::routes::serving;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "devreg Devices API",
        description = "A self-hosted server for the Devices API: register devices and get their \
            keys, list and retrieve them, take their heartbeats, and run training rounds.\n\n\
            Keys are sent as `Authorization: Bearer <key>` (or `X-API-Key: <key>`). There are \
            three kinds, told apart by their prefix: the org's **secret** key (`edg_live_`), \
            which may do everything within its org; a **publishable** key (`oct_pub_live_`), \
            which may register devices into its org and heartbeat them; and a **device** key \
            (`edg_dev_`, returned once at registration), which may heartbeat and retrieve its \
            own device and take part in training rounds. Each operation says which it takes, \
            also as the `x-credential-kinds` extension. A missing, malformed, unknown or revoked \
            key is a 401; a valid key that may not do the thing is a 403; a device of another \
            org (or another device, for a device key) is a 404 as if it did not exist.\n\n\
            Every response is JSON (`/metrics` excepted) and carries `X-Request-Id`; every error \
            has the body `{\"error\", \"message\", \"status_code\", \"request_id\"}`. Unknown \
            JSON fields are ignored; a documented field with a wrong type or value is a 400. \
            Bodies over 64 KiB are a 413. Times are RFC 3339 UTC with whole seconds and a `Z`.",
    ),
    components(schemas(ErrorBody)),
    modifiers(
        &RouteTable,
        &AccessRules,
        &CommonResponses,
        &SecuritySchemes,
        &OptionalBodies,
    ),
    tags(
        (name = "devices", description = "Register, list, retrieve and heartbeat devices."),
        (name = "device state", description = "What the SDKs call around register and heartbeat: sync, desired and observed state, assignments, iOS control."),
        (name = "models", description = "Models and their versions' artifact manifests."),
        (name = "deployments", description = "Model versions deployed to devices, and their rollout."),
        (name = "events", description = "The event log of every change, as pages or a stream."),
        (name = "training rounds", description = "Federated training rounds an org runs and its devices join."),
        (name = "federation", description = "Federated rounds through the SDKs: offers, join, plans, update uploads in parts, FedAvg."),
        (name = "operations", description = "Health, readiness, metrics and this document; no key needed."),
        (name = "testing", description = "Test control, served only by `devreg serve --ephemeral` and `TestServer`."),
    )
)]
struct ApiDoc;

/// Paths that exist only on an ephemeral server (`devreg serve --ephemeral`,
/// `TestServer`); another server's document leaves them out, as its routes do.
const TEST_CONTROL_PREFIX: &str = "/_devreg/";

/// The document of a server, ephemeral or not, as JSON.
pub fn document(ephemeral: bool) -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    if !ephemeral && let Some(paths) = document["paths"].as_object_mut() {
        paths.retain(|path, _| !path.starts_with(TEST_CONTROL_PREFIX));
    }
    require_headers(&mut document);
    crate::schema::cross_field_rules(&mut document["components"]["schemas"]);
    document
}

/// The document as pretty-printed JSON, built once per kind of server.
pub fn json(ephemeral: bool) -> &'static str {
    static EPHEMERAL: OnceLock<String> = OnceLock::new();
    static SERVER: OnceLock<String> = OnceLock::new();
    let cell = if ephemeral { &EPHEMERAL } else { &SERVER };
    cell.get_or_init(|| {
        serde_json::to_string_pretty(&document(ephemeral)).expect("the document serializes")
    })
}

/// Response headers the server always sends where they are documented. utoipa's header
/// model has no `required`, so it is added to the JSON.
const ALWAYS_SENT: &[&str] = &[
    "X-Request-Id",
    "Location",
    "Retry-After",
    "WWW-Authenticate",
    "Allow",
];

fn require_headers(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses")?.as_object_mut())
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, header) in headers.iter_mut() {
            if ALWAYS_SENT.contains(&name.as_str()) {
                header["required"] = Value::Bool(true);
            }
        }
    }
}

/// Each operation's credentials, from the [`Access`] of the route that serves it: the
/// `x-credential-kinds` extension, the security requirements, the 401 and 403 responses and
/// the 404 of an operation on a device its request names (each unless the handler describes
/// its own), and the "Credentials:" line its description ends with.
struct AccessRules;

impl Modify for AccessRules {
    fn modify(&self, openapi: &mut Document) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                let route = serving(method, path).expect("every operation is routed");
                describe_access(operation, route.access);
            }
        }
    }
}

fn describe_access(operation: &mut Operation, access: &Access) {
    let kinds: Vec<&str> = access.allows.iter().map(|a| a.name()).collect();
    operation
        .extensions
        .get_or_insert_with(Default::default)
        .merge(
            ExtensionsBuilder::new()
                .add("x-credential-kinds", json!(kinds))
                .build(),
        );
    let keyed = || {
        [
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("api_key", Vec::<String>::new()),
        ]
    };
    operation.security = Some(if access.is_public() {
        vec![SecurityRequirement::default()]
    } else if access.allows(Allow::Anonymous) {
        std::iter::once(SecurityRequirement::default())
            .chain(keyed())
            .collect()
    } else {
        keyed().into()
    });
    let description = operation.description.get_or_insert_with(String::new);
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(&access.credentials_line());
    if access.is_public() {
        return;
    }
    let responses = &mut operation.responses.responses;
    let unauthorized = if access.allows(Allow::Anonymous) {
        "The key is malformed, unknown or revoked."
    } else {
        "No key, or a malformed, unknown or revoked one."
    };
    responses
        .entry("401".to_owned())
        .or_insert_with(|| RefOr::T(Response::new(unauthorized)));
    let refused: Vec<&str> = [Allow::Secret, Allow::Publishable, Allow::Device]
        .into_iter()
        .filter(|a| !access.allows(*a))
        .map(|a| a.name())
        .collect();
    if !refused.is_empty() {
        let forbidden = format!(
            "A {} key: {} needs {}.",
            refused.join(" or "),
            access.action,
            access.keys_phrase()
        );
        responses
            .entry("403".to_owned())
            .or_insert_with(|| RefOr::T(Response::new(forbidden)));
    }
    if access.target.named_by_request() && !asks_for_registration(operation) {
        let other = if access.allows(Allow::Device) {
            " (or, for a device key, another device)"
        } else {
            ""
        };
        operation
            .responses
            .responses
            .entry("404".to_owned())
            .or_insert_with(|| {
                RefOr::T(Response::new(format!(
                    "No such device in the key's org{other}."
                )))
            });
    }
}

/// Whether the operation answers a device its org does not know with a success that asks
/// for its registration (OTLP's `x-device-needs-registration`) instead of a 404.
fn asks_for_registration(operation: &Operation) -> bool {
    operation
        .responses
        .responses
        .iter()
        .any(|(status, response)| {
            matches!(response, RefOr::T(r) if status.starts_with('2')
            && r.headers.contains_key(crate::routes::telemetry::otlp::NEEDS_REGISTRATION_HEADER))
        })
}

/// A text response header; `require_headers` marks the ones always sent as required.
fn header(description: &str) -> Value {
    json!({ "description": description, "schema": { "type": "string" } })
}

/// Operations that never touch the database, and so are never a 503.
const NO_DATABASE: &[&str] = &[
    "/healthz",
    "/openapi.json",
    "/_devreg/clock",
    "/_devreg/requests",
];

/// Gives every response the headers the middleware adds, and every error response the error
/// body, its example and its headers; adds the errors whole kinds of operation share: 400
/// and 413 where there is a body, 503 where there is a database, 429 where the rate
/// limiter applies, 500 everywhere.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut Document) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (_, operation) in operations(item) {
                let responses = &mut operation.responses.responses;
                if !UNLIMITED_PATHS.contains(&path.as_str()) {
                    responses.entry("429".to_owned()).or_insert_with(|| {
                        RefOr::T(Response::new(
                            "Rate limited: the key's (or, without a key, the client address's) \
                             bucket is empty. Retry after `Retry-After` seconds.",
                        ))
                    });
                }
                let queried = operation.parameters.iter().flatten().any(|p| {
                    matches!(p, RefOr::T(p) if p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
                });
                if queried {
                    responses.entry("400".to_owned()).or_insert_with(|| {
                        RefOr::T(Response::new("A query parameter is invalid."))
                    });
                }
                if operation.request_body.is_some() {
                    for (status, description) in [
                        (
                            "400",
                            "The body is not a JSON object, or a field is invalid.",
                        ),
                        ("413", "The body is over 64 KiB."),
                        (
                            "408",
                            "The body did not arrive within the body timeout of its headers.",
                        ),
                    ] {
                        responses
                            .entry(status.to_owned())
                            .or_insert_with(|| RefOr::T(Response::new(description)));
                    }
                }
                if !NO_DATABASE.contains(&path.as_str()) {
                    responses.entry("503".to_owned()).or_insert_with(|| {
                        RefOr::T(Response::new("The database is busy or full; retry later."))
                    });
                }
                responses.entry("500".to_owned()).or_insert_with(|| {
                    RefOr::T(Response::new(
                        "An unexpected error; the message carries no detail, the server log has \
                         it under the request id.",
                    ))
                });
                for (status, response) in responses.iter_mut() {
                    if let RefOr::T(response) = response {
                        complete_response(status, response);
                    }
                }
            }
        }
    }
}

/// The operations of `item`, with their (lowercase) methods.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation?)))
}

fn complete_response(status: &str, response: &mut Response) {
    let mut value = serde_json::to_value(&*response).expect("a response serializes");
    let metrics_text = is_metrics_text(&value);
    let headers = value
        .as_object_mut()
        .expect("a response is an object")
        .entry("headers")
        .or_insert_with(|| json!({}));
    headers["X-Request-Id"] =
        header("The request's id, also in the server's log line and in error bodies.");
    let error = ApiError::examples()
        .into_iter()
        .find(|e| e.status_code().as_str() == status);
    if let Some(error) = error {
        let error_status = error.status_code();
        if error_status == StatusCode::TOO_MANY_REQUESTS {
            headers["Retry-After"] = json!({
                "description": "Whole seconds to wait, at least 1; the next request after it is served.",
                "schema": { "type": "integer", "minimum": 1 },
            });
        }
        if error_status == StatusCode::UNAUTHORIZED {
            headers["WWW-Authenticate"] = json!({
                "description": "Always `Bearer`.",
                "schema": { "type": "string", "enum": ["Bearer"] },
            });
        }
        if error_status == StatusCode::METHOD_NOT_ALLOWED {
            headers["Allow"] = header("The methods the path allows.");
        }
        value["content"] = json!({
            "application/json": {
                "schema": { "$ref": "#/components/schemas/ErrorBody" },
                "example": {
                    "error": error.code(),
                    "message": error.public_message(),
                    "status_code": error_status.as_u16(),
                    "request_id": "req_11168a77c1964ccbb16d3f52edd4f797",
                },
            }
        });
    } else if status.starts_with('2') && !metrics_text {
        headers["X-RateLimit-Limit"] = json!({
            "description": "The per-minute quota of the bucket this request was charged to; \
                absent where rate limits are off (as in ephemeral mode) or do not apply.",
            "schema": { "type": "integer", "minimum": 0 },
        });
        headers["X-RateLimit-Remaining"] = json!({
            "description": "How many more requests that bucket allows right now; absent \
                where `X-RateLimit-Limit` is.",
            "schema": { "type": "integer", "minimum": 0 },
        });
    }
    *response = serde_json::from_value(value).expect("a completed response deserializes");
}

/// `/metrics` answers text, and is never rate limited.
fn is_metrics_text(response: &Value) -> bool {
    response["content"]
        .as_object()
        .is_some_and(|c| c.keys().all(|k| k.starts_with("text/plain")))
}

/// The two ways to present a key, and the operations that take none.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let schemes = json!({
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "`Authorization: Bearer <key>`: an org secret key (`edg_live_…`), \
                    a publishable key (`oct_pub_live_…`) or a device key (`edg_dev_…`). Each \
                    operation's `x-credential-kinds` says which it takes.",
            },
            "api_key": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The same keys in `X-API-Key`; with `Authorization` too, both \
                    must carry the same key.",
            },
        });
        for (name, scheme) in schemes.as_object().expect("an object") {
            components.security_schemes.insert(
                name.clone(),
                serde_json::from_value(scheme.clone()).expect("a valid security scheme"),
            );
        }
    }
}

/// A handler whose body is optional takes `Option<Request>`, which utoipa documents as a
/// not-required body that may also be JSON `null`. devreg reads an empty body as "none" and
/// refuses a `null` (a body must be a JSON object), so the `null` branch goes.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            for (_, operation) in operations(item) {
                let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                    continue;
                };
                for content in body.content.values_mut() {
                    let RefOr::T(content) = content else { continue };
                    match content.schema.as_mut() {
                        Some(RefOr::T(Schema::OneOf(one_of))) => {
                            let null = RefOr::T(schema_null());
                            one_of.items.retain(|item| *item != null);
                            if let [only] = one_of.items.as_slice() {
                                content.schema = Some(only.clone());
                            }
                        }
                        // `Option<Object>`: the type `["object", "null"]`.
                        Some(RefOr::T(Schema::Object(object))) => {
                            if let SchemaType::Array(types) = &mut object.schema_type {
                                types.retain(|t| *t != Type::Null);
                                if let [only] = types.as_slice() {
                                    object.schema_type = SchemaType::Type(only.clone());
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn schema_null() -> Schema {
    use utoipa::openapi::schema::ObjectBuilder;
    Schema::Object(ObjectBuilder::new().schema_type(Type::Null).build())
}

/// The document's paths, generated from the route table ([`crate::routes::document_paths`]),
/// and the schemas their operations name.
struct RouteTable;

impl Modify for RouteTable {
    fn modify(&self, openapi: &mut Document) {
        let (paths, schemas) = crate::routes::document_paths();
        openapi.paths = paths;
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.extend(schemas);
    }
}
