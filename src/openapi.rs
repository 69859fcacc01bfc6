//! The OpenAPI 3.1 document of everything devreg serves, generated from the code: the
//! handlers' `#[utoipa::path]` attributes, the request and response types' `ToSchema`
//! derives, and the schemas of the domain types below, whose limits are the constants the
//! parsers use. `GET /openapi.json` serves it and `devreg openapi` prints it; a test checks
//! that it names exactly the routes of [`crate::app::ROUTES`].

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::domain::{
    DeviceIdentifier, DeviceStatus, JsonObject, Limit, MinDevices, ModelId, Offset, OrgId,
    Platform, RoundStatus, TargetPlatforms, Timestamp,
};
use crate::error::{ApiError, ErrorBody};
use crate::ratelimit::UNLIMITED_PATHS;
use crate::routes::{control, devices, health, rounds};

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
    paths(
        devices::list_devices,
        devices::register_device,
        devices::get_device,
        devices::record_heartbeat,
        rounds::list_rounds,
        rounds::start_round,
        rounds::get_round,
        rounds::join_round,
        rounds::complete_round,
        rounds::cancel_round,
        health::get_health,
        health::get_readiness,
        health::get_metrics,
        get_openapi,
        control::reset_state,
    ),
    components(schemas(ErrorBody)),
    modifiers(
        &CommonResponses,
        &SecuritySchemes,
        &HeartbeatByPost,
        &OneIdentifier,
        &OptionalBodies,
        &RegisterIsAlsoADevice,
    ),
    tags(
        (name = "devices", description = "Register, list, retrieve and heartbeat devices."),
        (name = "training rounds", description = "Federated training rounds an org runs and its devices join."),
        (name = "operations", description = "Health, readiness, metrics and this document; no key needed."),
        (name = "testing", description = "Test control, served only by `devreg serve --ephemeral` and `TestServer`."),
    )
)]
struct ApiDoc;

/// The document as JSON.
pub fn document() -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    require_headers(&mut document);
    document
}

/// The document as pretty-printed JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::to_string_pretty(&document()).expect("the OpenAPI document serializes")
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

/// `GET /openapi.json`
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This OpenAPI document",
    description = "The OpenAPI 3.1 document of this server, the same that `devreg openapi` \
        prints. No key needed.",
    responses(
        (status = 200, description = "The OpenAPI document.", content_type = "application/json",
            body = Object),
    ),
    security(()),
    extensions(("x-credential-kinds" = json!([]))),
)]
pub async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}

// ---------------------------------------------------------------------------------------
// Schemas of the domain types, from the same constants their parsers use.

fn schema(value: Value) -> RefOr<Schema> {
    RefOr::T(serde_json::from_value(value).expect("a valid schema literal"))
}

/// Rust's `char::is_control` is Unicode's Cc category: U+0000–U+001F and U+007F–U+009F.
const NO_CONTROL_CHARACTERS: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

impl PartialSchema for DeviceIdentifier {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": DeviceIdentifier::MAX_CHARS,
            "pattern": r"^[^/\u0000-\u001F\u007F-\u009F]*$",
            "description": "A device's user-chosen identifier, unique within its org: 1 to 255 \
                characters (not bytes), no control characters, no `/`.",
            "examples": ["laptop-001"],
        }))
    }
}
impl ToSchema for DeviceIdentifier {}

impl PartialSchema for Platform {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": Platform::MAX_CHARS,
            "pattern": "^[a-z0-9_-]+$",
            "description": "The platform a device runs on: a lowercase token of 1 to 32 \
                characters `[a-z0-9_-]`. The reference names `python`, `ios`, `android` and \
                `edge`; the SDKs also send `macos`, `linux`, `windows` and `browser`.",
            "examples": ["python", "ios", "android", "edge"],
        }))
    }
}
impl ToSchema for Platform {}

impl PartialSchema for DeviceStatus {
    fn schema() -> RefOr<Schema> {
        let names = [DeviceStatus::Active, DeviceStatus::Inactive].map(DeviceStatus::as_str);
        schema(json!({
            "type": "string",
            "enum": names,
            "description": "Whether a device is taking part: `active` or `inactive`.",
        }))
    }
}
impl ToSchema for DeviceStatus {}

impl PartialSchema for RoundStatus {
    fn schema() -> RefOr<Schema> {
        let names = [
            RoundStatus::Active,
            RoundStatus::Completed,
            RoundStatus::Cancelled,
        ]
        .map(RoundStatus::as_str);
        schema(json!({
            "type": "string",
            "enum": names,
            "description": "Where a training round is in its life: `active` until the org \
                completes or cancels it.",
        }))
    }
}
impl ToSchema for RoundStatus {}

impl PartialSchema for JsonObject {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "additionalProperties": true,
            "description": "A free-form JSON object.",
        }))
    }
}
impl ToSchema for JsonObject {}

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "format": "date-time",
            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
            "description": "RFC 3339 UTC with whole seconds and a `Z`.",
            "examples": ["2026-02-23T16:30:00Z"],
        }))
    }
}
impl ToSchema for Timestamp {}

impl PartialSchema for ModelId {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": ModelId::MAX_CHARS,
            "pattern": NO_CONTROL_CHARACTERS,
            "description": "The model a round trains: free text, 1 to 255 characters, no \
                control characters.",
            "examples": ["keyboard-next-word-v3"],
        }))
    }
}
impl ToSchema for ModelId {}

impl PartialSchema for TargetPlatforms {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "array",
            "items": Platform::schema(),
            "description": "The platforms a round wants; empty means every platform. A \
                platform given twice counts once.",
            "examples": [["ios", "android"]],
        }))
    }
}
impl ToSchema for TargetPlatforms {}

impl PartialSchema for MinDevices {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "integer",
            "minimum": 1,
            "maximum": MinDevices::MAX,
            "description": "How many devices the round wants: recorded and shown, not enforced.",
            "examples": [10],
        }))
    }
}
impl ToSchema for MinDevices {}

impl PartialSchema for OrgId {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": OrgId::MAX_CHARS,
            "pattern": "^[A-Za-z0-9_-]+$",
            "description": "An organization's id, such as `org_demo`: 1 to 64 characters \
                `[A-Za-z0-9_-]`.",
            "examples": ["org_demo"],
        }))
    }
}
impl ToSchema for OrgId {}

/// The `limit` query parameter of the list endpoints.
pub fn limit_schema() -> RefOr<Schema> {
    schema(json!({
        "type": "integer",
        "minimum": 1,
        "maximum": Limit::MAX,
        "default": Limit::DEFAULT,
        "description": "Most records to return.",
    }))
}

/// The `offset` query parameter of the list endpoints.
pub fn offset_schema() -> RefOr<Schema> {
    schema(json!({
        "type": "integer",
        "minimum": 0,
        "maximum": Offset::MAX,
        "default": 0,
        "description": "Records to skip.",
    }))
}

/// The `error` member of [`ErrorBody`]: every code the server sends.
pub fn error_code_schema() -> RefOr<Schema> {
    schema(json!({
        "type": "string",
        "enum": errors().iter().map(ApiError::code).collect::<Vec<_>>(),
        "description": "The machine-readable error code; it follows from the status.",
    }))
}

/// Free-form fields the SDKs send beside the documented ones: groups of field names, each
/// with what becomes of them. Any JSON value each; other unknown fields are ignored.
pub fn sdk_fields_schema(groups: &[(&[&str], &str)]) -> RefOr<Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
    let mut object = ObjectBuilder::new();
    for (fields, description) in groups {
        for field in *fields {
            // Typeless: the server takes any JSON value here.
            let any = ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some(*description));
            object = object.property(*field, any);
        }
    }
    RefOr::T(Schema::Object(object.build()))
}

// ---------------------------------------------------------------------------------------
// Error responses: the one body, and what every operation shares.

/// One of each error the server sends, with the message its example shows.
fn errors() -> [ApiError; 10] {
    [
        ApiError::BadRequest("limit must be an integer from 1 to 1000, got \"5000\"".to_owned()),
        ApiError::Unauthorized(
            "an API key is required: send it as Authorization: Bearer <key>".to_owned(),
        ),
        ApiError::Forbidden(
            "listing devices needs the org's secret key; a publishable key cannot".to_owned(),
        ),
        ApiError::NotFound("no device \"laptop-002\" in this key's org".to_owned()),
        ApiError::MethodNotAllowed(
            "DELETE is not allowed on /api/v1/devices; the Allow header lists the methods that are"
                .to_owned(),
        ),
        ApiError::Conflict(
            "a device with device_id \"laptop-001\" is already registered in org org_demo"
                .to_owned(),
        ),
        ApiError::PayloadTooLarge("request body is larger than the 64 KiB limit".to_owned()),
        ApiError::RateLimited {
            message: "too many requests for this key; retry after 1 second".to_owned(),
            retry_after_secs: 1,
        },
        ApiError::Internal(String::new()),
        ApiError::ServiceUnavailable("the database is busy; retry shortly".to_owned()),
    ]
}

/// A text response header; `require_headers` marks the ones always sent as required.
fn header(description: &str) -> Value {
    json!({ "description": description, "schema": { "type": "string" } })
}

/// Gives every response the headers the middleware adds, and every error response the error
/// body, its example and its headers; adds the errors any request can meet: 429 where the
/// rate limiter applies, 500 everywhere.
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
    let error = errors()
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

/// The heartbeat is `PUT` in the reference and `POST` as the Python SDK sends it: one
/// handler, one `#[utoipa::path]` with both methods, so the two operations are the same but
/// for their ids, which must differ.
struct HeartbeatByPost;

impl Modify for HeartbeatByPost {
    fn modify(&self, openapi: &mut Document) {
        if let Some(post) = openapi
            .paths
            .paths
            .get_mut("/api/v1/devices/{device_id}/heartbeat")
            .and_then(|item| item.post.as_mut())
        {
            post.operation_id = Some("record_heartbeat_post".to_owned());
            post.summary = Some("Send a heartbeat (POST, as the Python SDK does)".to_owned());
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

/// Only POST to `/api/v1/devices/register` registers: a GET there is the route
/// `/api/v1/devices/{device_id}` retrieving the device whose identifier is `register`, and
/// the server's `Allow` header says so. OpenAPI matches a concrete path before a template,
/// so without this copy of the retrieve operation the document would call that GET
/// undocumented.
struct RegisterIsAlsoADevice;

impl Modify for RegisterIsAlsoADevice {
    fn modify(&self, openapi: &mut Document) {
        let paths = &mut openapi.paths.paths;
        let Some(mut get) = paths
            .get("/api/v1/devices/{device_id}")
            .and_then(|item| item.get.clone())
        else {
            return;
        };
        get.operation_id = Some("get_device_named_register".to_owned());
        get.summary = Some("Retrieve the device whose identifier is `register`".to_owned());
        get.description = Some(
            "`GET /api/v1/devices/{device_id}` with `register` as the identifier: only POST to \
             this path registers a device.\n\nCredentials: the org's secret key, or the \
             device's own key."
                .to_owned(),
        );
        get.parameters = None;
        // Its links would make it look like an entry point to link-following clients; the
        // operation it copies has them.
        for response in get.responses.responses.values_mut() {
            if let RefOr::T(response) = response {
                response.links.clear();
            }
        }
        if let Some(item) = paths.get_mut("/api/v1/devices/register") {
            item.get = Some(get);
        }
    }
}
