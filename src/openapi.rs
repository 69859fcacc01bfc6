//! The OpenAPI 3.1 document of everything a devreg server serves, generated from the code:
//! its paths from the route table ([`crate::routes::ROUTES`]), each route's operation from
//! its handler's `#[utoipa::path]` (only what is particular to it), the request and
//! response types' `ToSchema` derives, the domain types' schemas in [`crate::schema`],
//! and the routes' [`Access`] rules, from which every operation's credentials, security
//! and 401/403 responses come. Responses every operation of a kind shares are added by
//! rule, below. `GET /openapi.json` serves it and `devreg openapi` prints it.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use actix_web::ResponseError;
use actix_web::http::StatusCode;
use serde_json::{Value, json};
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::Response;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};
use utoipa::{Modify, OpenApi};

use crate::auth::{Access, Allow, Target};
use crate::error::{ApiError, ErrorBody};
use crate::ratelimit::UNLIMITED_PATHS;
use crate::routes::{ROUTES, Route};
use crate::schema::schema;

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
        &Links,
        &OneIdentifier,
        &OptionalBodies,
        &FallThrough,
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
    accepted_exactly(&mut document);
    document
}

/// The rules the parsers enforce that the derived schemas cannot say, added to the JSON so
/// a client generated from the document (and the fuzzer) sends only what is accepted: a
/// body is never `null`; cross-field rules (exactly one of, needs, any of) as `oneOf` /
/// `anyOf`; the domain rules of fields typed as plain strings.
fn accepted_exactly(document: &mut Value) {
    // An optional body is an empty one, never `null`.
    if let Some(paths) = document["paths"].as_object_mut() {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in operation.values_mut() {
                let Some(content) = op
                    .pointer_mut("/requestBody/content")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for media in content.values_mut() {
                    if let Some(kinds) = media
                        .pointer_mut("/schema/type")
                        .and_then(Value::as_array_mut)
                    {
                        kinds.retain(|k| k != "null");
                    }
                }
            }
        }
    }
    // The event stream's events, as a reader parses them.
    if let Some(stream) = document.pointer_mut(
        "/paths/~1api~1v1~1events~1stream/get/responses/200/content/text~1event-stream/schema",
    ) {
        *stream = json!({
            "type": "object",
            "description": "One Server-Sent Event: `id` its seq, `event` its type, `data` the event as JSON text.",
            "properties": {
                "id": {"type": "string"},
                "event": {"type": "string"},
                "data": {"type": "string"},
            },
        });
    }
    // A resume point is a seq.
    if let Some(params) = document
        .pointer_mut("/paths/~1api~1v1~1events~1stream/get/parameters")
        .and_then(Value::as_array_mut)
    {
        for param in params.iter_mut().filter(|p| p["name"] == "Last-Event-ID") {
            param["schema"] = json!({"type": "string", "pattern": "^ *([0-9]{1,18})? *$"});
        }
    }
    // The offers need the device they are for (with the secret key; a device key's own
    // otherwise): each path documents the name its SDK sends as required.
    for (path, name) in [
        (
            "/paths/~1api~1v1~1federation~1offers/get/parameters",
            "device_id",
        ),
        (
            "/paths/~1api~1v1~1federation~1rounds~1offers/get/parameters",
            "deviceId",
        ),
    ] {
        if let Some(params) = document.pointer_mut(path).and_then(Value::as_array_mut) {
            for param in params.iter_mut().filter(|p| p["name"] == name) {
                param["required"] = Value::Bool(true);
            }
        }
    }
    // OTLP/JSON logs: an ExportLogsServiceRequest, which has `resourceLogs`.
    if let Some(otlp) = document.pointer_mut(
        "/paths/~1api~1v2~1telemetry~1events/post/requestBody/content/application~1json/schema",
    ) && let Some(object) = otlp.as_object_mut()
    {
        object.insert("required".to_owned(), json!(["resourceLogs"]));
        object.insert(
            "properties".to_owned(),
            json!({"resourceLogs": {"type": "array", "items": {"type": "object"}}}),
        );
    }
    let sha256 = json!({"type": "string", "pattern": "^[0-9a-fA-F]{64}$"});
    let any_value = json!({"description": "Any JSON value, or null."});
    // PATCH's labels: a member set to null is removed when merging.
    let mut patch_labels = document["components"]["schemas"]["Labels"].clone();
    if let Some(values) = patch_labels.get_mut("additionalProperties") {
        values["type"] = json!(["string", "null"]);
    }
    let schemas = &mut document["components"]["schemas"];
    let mut set = |schema: &str, pointer: &str, value: Value| {
        if let Some(slot) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(pointer)) {
            *slot = value;
        }
    };
    set(
        "CreateModel",
        "/properties/model_id",
        json!({"$ref": "#/components/schemas/ModelId"}),
    );
    set(
        "CreateDeployment",
        "/properties/model_id",
        json!({"$ref": "#/components/schemas/ModelId"}),
    );
    set(
        "CreateDeployment",
        "/properties/version",
        json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": crate::schema::NO_CONTROL_CHARACTERS}),
    );
    set(
        "UpdateRequest",
        "/properties/labels",
        json!({"oneOf": [patch_labels.clone(), {"type": "null"}]}),
    );
    for part in 0..4 {
        set(
            "RegisterRequest",
            &format!("/allOf/{part}/properties/labels"),
            json!({"oneOf": [patch_labels.clone(), {"type": "null"}]}),
        );
    }
    set(
        "CreateDeployment",
        "/properties/target",
        json!({
            "type": ["object", "null"],
            "description": "`devices` (UUIDs or identifiers), `platforms`, `labels` (`{KEY: VALUE}`): all given parts must match; absent or `{}` matches every device of the org. No other member.",
            "additionalProperties": false,
            "properties": {
                "devices": {"type": "array", "items": {"$ref": "#/components/schemas/DeviceIdentifier"}},
                "platforms": {"type": "array", "items": {"$ref": "#/components/schemas/Platform"}},
                "labels": {"$ref": "#/components/schemas/Labels"},
            },
        }),
    );
    set(
        "NewVersion",
        "/properties/version",
        json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": crate::schema::NO_CONTROL_CHARACTERS}),
    );
    set("NewVersion", "/properties/sha256", sha256.clone());
    set(
        "NewVersion",
        "/properties/format",
        json!({"type": "string", "minLength": 1, "maxLength": 32}),
    );
    set(
        "NewVersion",
        "/properties/download_url",
        json!({"type": "string", "minLength": 1, "pattern": crate::schema::NO_CONTROL_CHARACTERS}),
    );
    set(
        "StartRequest",
        "/properties/base_version",
        json!({"type": ["string", "null"], "minLength": 1, "maxLength": 64, "pattern": crate::schema::NO_CONTROL_CHARACTERS}),
    );
    let policy = json!({"type": ["string", "null"], "pattern": "^[a-z0-9_-]{1,32}$"});
    set(
        "CreateDeployment",
        "/properties/activation_policy",
        policy.clone(),
    );
    set("CreateDeployment", "/properties/delivery_mode", policy);
    set("ArtifactFile", "/properties/sha256", sha256);
    set(
        "BatchEvent",
        "/properties/occurred_at",
        json!({"type": ["string", "null"], "format": "date-time"}),
    );
    set(
        "JournalEntry",
        "/properties/request_body",
        any_value.clone(),
    );
    set("JournalEntry", "/properties/response_body", any_value);
    let string = json!({"type": "string", "minLength": 1});
    let required = |name: &str| json!({"required": [name], "properties": {(name): string.clone()}});
    let mut rule = |schema: &str, keyword: &str, value: Value| {
        if let Some(object) = schemas.get_mut(schema).and_then(Value::as_object_mut) {
            object.insert(keyword.to_owned(), value);
        }
    };
    // Exactly one of advance_seconds and now.
    rule(
        "MoveClock",
        "oneOf",
        json!([
            {"required": ["advance_seconds"],
             "properties": {"advance_seconds": {"type": "integer"}, "now": {"type": "null"}}},
            {"required": ["now"],
             "properties": {"now": {"type": "string", "format": "date-time"}, "advance_seconds": {"type": "null"}}},
        ]),
    );
    // Revoke names the token, under either name.
    rule(
        "RevokeRequest",
        "anyOf",
        json!([required("refresh_token"), required("token")]),
    );
    // The device, under any of its names: required with the secret key, which the
    // document cannot tell from a device key.
    for schema in ["RoundHeartbeat", "FederationJoinRequest"] {
        rule(
            schema,
            "anyOf",
            json!([
                required("device_id"),
                required("deviceId"),
                required("device_identifier")
            ]),
        );
    }
    // A base version needs the model it is a version of.
    rule(
        "StartRequest",
        "anyOf",
        json!([
            {"not": {"required": ["base_version"]}},
            {"properties": {"base_version": {"type": "null"}}},
            {"required": ["model_id"], "properties": {"model_id": {"$ref": "#/components/schemas/ModelId"}}},
        ]),
    );
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

/// The operation of `item` for `method` (lowercase, as the route table writes it).
fn operation_mut<'a>(
    item: &'a mut utoipa::openapi::PathItem,
    method: &str,
) -> Option<&'a mut Operation> {
    match method {
        "get" => item.get.as_mut(),
        "put" => item.put.as_mut(),
        "post" => item.post.as_mut(),
        "delete" => item.delete.as_mut(),
        "patch" => item.patch.as_mut(),
        _ => None,
    }
}

/// Each operation's credentials, from its route's [`Access`]: the `x-credential-kinds`
/// extension, the security requirements, the 401 and 403 responses (unless the handler
/// describes its own) and the "Credentials:" line its description ends with.
struct AccessRules;

impl Modify for AccessRules {
    fn modify(&self, openapi: &mut Document) {
        for route in ROUTES {
            let Some(operation) = openapi
                .paths
                .paths
                .get_mut(route.path)
                .and_then(|item| operation_mut(item, route.method))
            else {
                continue;
            };
            describe_access(operation, route.access);
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
    if names_a_device(access) && !asks_for_registration(operation) {
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

/// Whether the operation acts on a device its request names (in the path, or the body or
/// query), and so answers 404 for one the caller cannot see. The credential's own device
/// (`Target::OwnDevice`) is named by no request: without it the key is a 401.
fn names_a_device(access: &Access) -> bool {
    access.target.is_device() && access.target != Target::OwnDevice
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
            for operation in operations(item) {
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

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
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

/// The links between operations, in one place: (operation, status, link name, target
/// operation, target parameter, where its value comes from, description).
const LINKS: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    (
        "register_device",
        "201",
        "RetrieveDevice",
        "get_device",
        "device_id",
        "$response.body#/id",
        "Retrieve the device just registered.",
    ),
    (
        "register_device",
        "201",
        "SendHeartbeat",
        "record_heartbeat",
        "device_id",
        "$response.body#/id",
        "Heartbeat the device just registered.",
    ),
    (
        "register_device",
        "201",
        "SendHeartbeatByPost",
        "record_heartbeat_post",
        "device_id",
        "$response.body#/id",
        "Heartbeat it as the Python SDK does.",
    ),
    (
        "register_device",
        "201",
        "ListDevices",
        "list_devices",
        "org_id",
        "$response.body#/org_id",
        "List the devices of its org.",
    ),
    (
        "get_device",
        "200",
        "SendHeartbeat",
        "record_heartbeat",
        "device_id",
        "$response.body#/id",
        "Heartbeat this device.",
    ),
    (
        "get_device",
        "200",
        "SendHeartbeatByPost",
        "record_heartbeat_post",
        "device_id",
        "$response.body#/id",
        "Heartbeat it as the Python SDK does.",
    ),
    (
        "get_device",
        "200",
        "ListDevices",
        "list_devices",
        "org_id",
        "$response.body#/org_id",
        "List the devices of its org.",
    ),
    (
        "start_round",
        "201",
        "RetrieveRound",
        "get_round",
        "round_id",
        "$response.body#/id",
        "Retrieve the round just started.",
    ),
    (
        "start_round",
        "201",
        "CompleteRound",
        "complete_round",
        "round_id",
        "$response.body#/id",
        "Complete it.",
    ),
    (
        "start_round",
        "201",
        "CancelRound",
        "cancel_round",
        "round_id",
        "$response.body#/id",
        "Cancel it.",
    ),
    (
        "get_round",
        "200",
        "CompleteRound",
        "complete_round",
        "round_id",
        "$response.body#/id",
        "Complete it.",
    ),
    (
        "get_round",
        "200",
        "CancelRound",
        "cancel_round",
        "round_id",
        "$response.body#/id",
        "Cancel it.",
    ),
];

struct Links;

impl Modify for Links {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let id = operation.operation_id.clone().unwrap_or_default();
                for (_, status, name, target, parameter, value, description) in
                    LINKS.iter().filter(|link| link.0 == id)
                {
                    let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status)
                    else {
                        continue;
                    };
                    let link = json!({
                        "operationId": target,
                        "parameters": { (*parameter): value },
                        "description": description,
                    });
                    response.links.insert(
                        (*name).to_owned(),
                        RefOr::T(serde_json::from_value(link).expect("a valid link")),
                    );
                }
            }
        }
    }
}

/// Register and join take a device's identifier under either of its names, `device_id` or
/// `device_identifier`: one is required, and both may be sent only if they agree. JSON Schema
/// cannot say "equal when both are present", so the document asks for exactly one (`oneOf`:
/// both given would match both branches), which every client can follow; a derive cannot
/// say "one of these two fields" either, hence this modifier on the derived schemas.
struct OneIdentifier;

impl Modify for OneIdentifier {
    fn modify(&self, openapi: &mut Document) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        // A null counts as absent, so a branch matches only where its name has a string.
        let given = |name: &str| {
            json!({
                "type": "object",
                "required": [name],
                "properties": { (name): { "type": "string" } },
            })
        };
        let rule = schema(json!({ "oneOf": [given("device_id"), given("device_identifier")] }));
        for name in ["RegisterRequest", "JoinRequest"] {
            let combined = match components.schemas.remove(name) {
                // Register's derived schema is already an allOf (its flattened SDK fields):
                // one more member, not an allOf nested in an allOf, which some client
                // generators cannot read.
                Some(RefOr::T(Schema::AllOf(mut all_of))) => {
                    all_of.items.push(rule.clone());
                    all_of
                }
                Some(derived) => utoipa::openapi::schema::AllOfBuilder::new()
                    .item(derived)
                    .item(rule.clone())
                    .build(),
                None => continue,
            };
            components
                .schemas
                .insert(name.to_owned(), RefOr::T(Schema::AllOf(combined)));
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
            for operation in operations(item) {
                let Some(RefOr::T(body)) = operation.request_body.as_mut() else {
                    continue;
                };
                for content in body.content.values_mut() {
                    let RefOr::T(content) = content else { continue };
                    let Some(RefOr::T(Schema::OneOf(one_of))) = content.schema.as_mut() else {
                        continue;
                    };
                    let null = RefOr::T(schema_null());
                    one_of.items.retain(|item| *item != null);
                    if let [only] = one_of.items.as_slice() {
                        content.schema = Some(only.clone());
                    }
                }
            }
        }
    }
}

fn schema_null() -> Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    Schema::Object(ObjectBuilder::new().schema_type(Type::Null).build())
}

/// The document's operations: each API route of the table, its handler's operation under
/// the table's path and method, and the schemas the operation names. A second route of a
/// handler (an alias) gets the id the table gives it, else the handler's followed by its
/// method (`record_heartbeat_post`), and says which operation it repeats.
struct RouteTable;

impl Modify for RouteTable {
    fn modify(&self, openapi: &mut Document) {
        let mut schemas = Vec::new();
        let mut first: HashMap<String, &Route> = HashMap::new();
        let mut ids = HashSet::new();
        for route in ROUTES {
            let Some(doc) = route.doc else { continue };
            let mut operation = (doc.operation)();
            let tags = (doc.tags)();
            if !tags.is_empty() {
                operation.tags = Some(tags.into_iter().map(str::to_owned).collect());
            }
            (doc.schemas)(&mut schemas);
            let own = operation.operation_id.clone().unwrap_or_default();
            if let Some(primary) = first.get(&own) {
                let id = route
                    .operation_id
                    .map_or_else(|| format!("{own}_{}", route.method), str::to_owned);
                operation.summary = operation.summary.map(|s| format!("{s} (alias)"));
                let description = operation.description.get_or_insert_with(String::new);
                description.insert_str(
                    0,
                    &format!(
                        "The same operation as `{} {}` (`{own}`), by another {}.\n\n",
                        primary.method.to_uppercase(),
                        primary.path,
                        if primary.path == route.path {
                            "method"
                        } else {
                            "path"
                        },
                    ),
                );
                operation.operation_id = Some(id);
            } else {
                first.insert(own, route);
            }
            let id = operation.operation_id.clone().unwrap_or_default();
            assert!(
                ids.insert(id.clone()),
                "two operations have the id {id}: name the alias with `as` in the route table"
            );
            openapi
                .paths
                .add_path_operation(route.path, vec![method(route.method)], operation);
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.extend(schemas);
    }
}

/// The OpenAPI method of a route table's (lowercase) method.
fn method(name: &str) -> HttpMethod {
    match name {
        "get" => HttpMethod::Get,
        "put" => HttpMethod::Put,
        "post" => HttpMethod::Post,
        "delete" => HttpMethod::Delete,
        "patch" => HttpMethod::Patch,
        other => panic!("the route table has method {other}, which the document lacks"),
    }
}

/// A path of the table without parameters (`/api/v1/devices/register`) that a pattern of
/// the table also matches (`/api/v1/devices/{device_id}`) serves that pattern's other
/// methods: its guard lets them through, with the path's last segment as the parameter,
/// and the `Allow` header says so. OpenAPI matches a concrete path before a pattern, so
/// without a copy of those operations under the path the document would call them
/// undocumented.
struct FallThrough;

impl Modify for FallThrough {
    fn modify(&self, openapi: &mut Document) {
        let api = || ROUTES.iter().filter(|r| !r.page);
        for path in api().map(|r| r.path).filter(|p| !p.contains('{')) {
            let own: Vec<&str> = api().filter(|r| r.path == path).map(|r| r.method).collect();
            for pattern in api().filter(|r| matches(r.path, path) && !own.contains(&r.method)) {
                let Some(mut operation) = openapi
                    .paths
                    .paths
                    .get_mut(pattern.path)
                    .and_then(|item| operation_mut(item, pattern.method))
                    .cloned()
                else {
                    continue;
                };
                let (parameter, name) = pattern
                    .path
                    .split('/')
                    .zip(path.split('/'))
                    .find(|(p, _)| p.starts_with('{'))
                    .expect("a pattern has a parameter");
                let noun = parameter.trim_matches(['{', '}']).trim_end_matches("_id");
                let id = operation.operation_id.clone().unwrap_or_default();
                operation.operation_id = Some(format!("{}_{noun}_named_{name}", pattern.method));
                operation.summary = operation
                    .summary
                    .map(|s| format!("{s}: the {noun} whose identifier is `{name}`"));
                operation.description = Some(format!(
                    "`{} {}` (`{id}`) with `{name}` as the identifier: only {} to this path \
                     is an operation of its own.\n\n{}",
                    pattern.method.to_uppercase(),
                    pattern.path,
                    own.join(", ").to_uppercase(),
                    pattern.access.credentials_line()
                ));
                operation.parameters = None;
                // Its links would make it look like an entry point to link-following
                // clients; the operation it copies has them.
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.links.clear();
                    }
                }
                openapi
                    .paths
                    .add_path_operation(path, vec![method(pattern.method)], operation);
            }
        }
    }
}

/// Whether the route pattern `pattern` (`/a/{x}/b`) matches the concrete path `path`.
fn matches(pattern: &str, path: &str) -> bool {
    pattern.split('/').count() == path.split('/').count()
        && pattern
            .split('/')
            .zip(path.split('/'))
            .all(|(p, s)| p == s || p.starts_with('{'))
}
