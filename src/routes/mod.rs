//! HTTP handlers, one file per operation in a folder per resource, the one route table,
//! and what the handlers share: body and query parsing, the identifier pair, the
//! other-org check, the 404 for an unseen device.

pub mod console;
pub mod control;
pub mod devices;
pub mod events;
pub mod ops;
pub mod rounds;

use actix_web::{HttpRequest, guard, web};
use serde::de::DeserializeOwned;

use crate::auth::{Access, Credential};
use crate::domain::{DeviceIdentifier, json_kind};
use crate::error::ApiError;
use crate::state::AppState;

/// One entry of the route table: a method, a path pattern, and who may call it.
#[derive(Debug)]
pub struct Route {
    /// Lowercase, as OpenAPI writes methods.
    pub method: &'static str,
    pub path: &'static str,
    pub access: &'static Access,
    /// A page of the console (HTML, CSS, JavaScript for a browser), not an API operation:
    /// served like every route, left out of the OpenAPI document. The table says which,
    /// by putting the route under `pages:`.
    pub page: bool,
}

/// Declares the route table once and derives from it both [`configure`], which registers
/// it, and [`ROUTES`], which the OpenAPI document is generated and checked against. Each
/// entry is a path, optionally a guard on its resource, and its methods, each with the
/// handler `group::operation::handler` whose module declares the operation's `ACCESS`.
/// The API's operations come first; the console's pages follow `pages:`.
macro_rules! route_table {
    (@route $page:literal $path:literal $method:ident $group:ident $op:ident) => {
        Route {
            method: stringify!($method),
            path: $path,
            access: &$group::$op::ACCESS,
            page: $page,
        }
    };
    (@register $cfg:ident $path:literal [$($guard:expr)?]
        $( $method:ident => $group:ident :: $op:ident :: $handler:ident ),+) => {
        $cfg.service(
            web::resource($path)
                $( .guard($guard) )?
                $( .route(web::$method().to($group::$op::$handler)) )+
        );
    };
    (
        $( $path:literal $([$guard:expr])? => {
            $( $method:ident => $group:ident :: $op:ident :: $handler:ident ),+ $(,)?
        } )*
        pages:
        $( $page_path:literal => {
            $( $page_method:ident => $page_group:ident :: $page_op:ident :: $page_handler:ident ),+ $(,)?
        } )*
    ) => {
        /// Every (method, path pattern, access) the route table serves.
        pub const ROUTES: &[Route] = &[
            $( $( route_table!(@route false $path $method $group $op), )+ )*
            $( $( route_table!(@route true $page_path $page_method $page_group $page_op), )+ )*
        ];

        /// Registers every endpoint and page devreg serves, and the JSON 404 for the rest.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $( route_table!(@register cfg $path [$($guard)?]
                $( $method => $group::$op::$handler ),+); )*
            $( route_table!(@register cfg $page_path []
                $( $page_method => $page_group::$page_op::$page_handler ),+); )*
            cfg.default_service(web::to(not_found));
        }
    };
}

route_table! {
    "/api/v1/devices" => { get => devices::list::list_devices }
    // Only POST is registration: `GET /api/v1/devices/register` retrieves a device whose
    // identifier is "register".
    "/api/v1/devices/register" [guard::Post()] => { post => devices::register::register_device }
    "/api/v1/devices/{device_id}" => {
        get => devices::get::get_device,
        patch => devices::update::update_device,
        delete => devices::delete::delete_device,
    }
    "/api/v1/devices/{device_id}/keys" => { post => devices::rekey::issue_device_key }
    "/api/v1/devices/{device_id}/heartbeat" => {
        put => devices::heartbeat::record_heartbeat,
        post => devices::heartbeat::record_heartbeat,
    }
    "/api/v1/events" => { get => events::list::list_events }
    "/api/v1/events/stream" => { get => events::stream::stream_events }
    "/api/v1/training/rounds" => {
        get => rounds::list::list_rounds,
        post => rounds::start::start_round,
    }
    "/api/v1/training/rounds/{round_id}" => { get => rounds::get::get_round }
    "/api/v1/training/rounds/{round_id}/join" => { post => rounds::join::join_round }
    "/api/v1/training/rounds/{round_id}/complete" => {
        post => rounds::complete::complete_round
    }
    "/api/v1/training/rounds/{round_id}/cancel" => { post => rounds::cancel::cancel_round }
    "/healthz" => { get => ops::health::get_health }
    "/readyz" => { get => ops::readiness::get_readiness }
    "/metrics" => { get => ops::metrics::get_metrics }
    "/openapi.json" => { get => ops::document::get_openapi }
    // Test control: only in ephemeral mode; elsewhere the guard fails and it is a 404.
    "/_devreg/reset" [guard::fn_guard(is_ephemeral)] => { post => control::reset::reset_state }
    "/_devreg/requests" [guard::fn_guard(is_ephemeral)] => {
        get => control::requests::list_requests,
        delete => control::requests::clear_requests,
    }
    "/_devreg/clock" [guard::fn_guard(is_ephemeral)] => {
        get => control::clock::get_clock,
        post => control::clock::move_clock,
    }
    pages:
    "/" => { get => console::pages::redirect_to_console }
    "/console" => { get => console::pages::get_console }
    "/console/" => { get => console::pages::get_console }
    "/console/{file}" => { get => console::pages::get_asset }
}

/// Whether the server is ephemeral: only then do the test-control routes exist.
fn is_ephemeral(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.baseline.is_some())
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::from_status(
        actix_web::http::StatusCode::NOT_FOUND,
        req.method().as_str(),
        req.path(),
    ))
}

/// Parses a JSON body whatever its Content-Type. An empty body is `None`; anything but a
/// JSON object is a 400 saying what was sent; a field of the wrong type or value is a 400
/// naming the field.
pub fn parse_json_object<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed[0] != b'{' {
        return Err(match serde_json::from_slice::<serde_json::Value>(trimmed) {
            Ok(value) => ApiError::BadRequest(format!(
                "the request body must be a JSON object, got {}",
                json_kind(&value)
            )),
            Err(e) => ApiError::BadRequest(format!("the request body is not valid JSON: {e}")),
        });
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(trimmed);
    serde_path_to_error::deserialize(deserializer)
        .map(Some)
        .map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if !inner.is_data() {
                return ApiError::BadRequest(format!(
                    "the request body is not valid JSON: {inner}"
                ));
            }
            // serde_json appends the position; for a field error the field name says more.
            let message = inner.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            if path == "." {
                ApiError::BadRequest(format!("the request body is not valid: {message}"))
            } else if message.starts_with("must ") {
                ApiError::BadRequest(format!("{path} {message}"))
            } else {
                ApiError::BadRequest(format!("{path}: {message}"))
            }
        })
}

/// Parses the query string into `T`, text fields kept as text so a bad value's error can
/// quote it.
pub fn parse_query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("the query string could not be read: {e}")))
}

/// A device named under either of its names, `device_id` (the reference's) or
/// `device_identifier` (the SDKs'): both may be sent only if they agree.
pub fn one_identifier(
    device_id: Option<DeviceIdentifier>,
    device_identifier: Option<DeviceIdentifier>,
) -> Result<Option<DeviceIdentifier>, ApiError> {
    match (device_id, device_identifier) {
        (Some(a), Some(b)) if a != b => Err(ApiError::BadRequest(format!(
            "device_id ({}) and device_identifier ({}) must agree when both are sent",
            quoted(a.as_str()),
            quoted(b.as_str())
        ))),
        (Some(id), _) | (None, Some(id)) => Ok(Some(id)),
        (None, None) => Ok(None),
    }
}

/// 403 when a request names an org (`org_id` in a query or body) other than its key's:
/// "this key belongs to org A; it cannot list the devices of org B".
pub fn same_org(credential: &Credential, named: Option<&str>, doing: &str) -> Result<(), ApiError> {
    match named {
        Some(org) if org != credential.org_id.as_str() => Err(ApiError::Forbidden(format!(
            "this key belongs to org {}; it cannot {doing} org {org}",
            credential.org_id
        ))),
        _ => Ok(()),
    }
}

/// The 404 for a device the caller cannot see, whether it exists elsewhere or not at all.
pub fn device_not_found(reference: &str) -> ApiError {
    ApiError::NotFound(format!("no device {} in this key's org", quoted(reference)))
}

/// `text` in double quotes, with quotes and control characters escaped as JSON does:
/// what a message shows of a value the client sent.
pub fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}
