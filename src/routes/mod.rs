//! HTTP handlers, one file per operation in a folder per resource, the one route table,
//! and what the handlers share: body and query parsing, the identifier pair, the
//! other-org check, the 404 for an unseen device.

pub mod artifacts;
pub mod console;
pub mod deployments;
pub mod devices;
pub mod events;
pub mod experiments;
pub mod models;
pub mod ops;
pub mod registry;
pub mod rounds;
pub mod runtime;
pub mod settings;
pub mod signed;
mod table;
pub mod telemetry;
pub mod test_control;
pub mod tokens;

use actix_web::{HttpRequest, guard, web};
use serde::de::DeserializeOwned;

pub use table::{FROM_TABLE, OperationDoc, Route, document_paths, serving};

use crate::auth::Credential;
pub use crate::domain::quoted;
use crate::domain::{DeviceIdentifier, json_kind};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::devices::NotActing;

/// Declares the route table once and derives from it both [`configure`], which registers
/// it, and [`ROUTES`], from which the OpenAPI document's paths are generated. Each entry
/// is a path, optionally a guard on its resource, and its methods, each with the handler
/// `group::operation::handler` whose module declares the operation's `ACCESS` and whose
/// `#[utoipa::path]` documents it. A handler may serve several routes: an alias is one
/// more line naming it (`post => group::operation::handler`), optionally `as
/// operation_id` where its id is not the rule's. The API's operations come first; the
/// console's pages follow `pages:`.
macro_rules! route_table {
    (@id) => { None };
    (@id $id:ident) => { Some(stringify!($id)) };
    (@register $cfg:ident $path:literal [$($guard:expr)?]
        $( $method:ident => $group:ident :: $op:ident :: $handler:ident ),+) => {
        $cfg.service(
            web::resource($path)
                $( .guard($guard) )?
                $( .route(method_route(stringify!($method)).to($group::$op::$handler)) )+
        );
    };
    (
        $( $path:literal $([$guard:expr])? => {
            $( $method:ident => $group:ident :: $op:ident :: $handler:ident $(as $id:ident)? ),+
            $(,)?
        } )*
        pages:
        $( $page_path:literal => {
            $( $page_method:ident => $page_group:ident :: $page_op:ident :: $page_handler:ident ),+ $(,)?
        } )*
    ) => {
        /// Every (method, path pattern, access, operation) the route table serves.
        pub const ROUTES: &[Route] = &[
            $( $( Route {
                method: stringify!($method),
                path: $path,
                access: &$group::$op::ACCESS,
                page: false,
                doc: Some(pastey::paste!(OperationDoc::of::<$group::$op::[<__path_ $handler>]>())),
                operation_id: route_table!(@id $($id)?),
            }, )+ )*
            $( $( Route {
                method: stringify!($page_method),
                path: $page_path,
                access: &$page_group::$page_op::ACCESS,
                page: true,
                doc: None,
                operation_id: None,
            }, )+ )*
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
    // Only POST is the heartbeat without a path id (Node `configure()`): a GET retrieves
    // the device whose identifier is "heartbeat".
    "/api/v1/devices/heartbeat" [guard::Post()] => { post => devices::heartbeat_by_key::record_heartbeat_by_key }
    // issue 27 (sdk2): iOS's profile map. Only GET and PUT: PATCH and DELETE still name
    // the device whose identifier is "profiles" (GET retrieves it by its UUID).
    "/api/v1/devices/profiles" [guard::Any(guard::Get()).or(guard::Put())] => {
        get => settings::profiles_get::get_device_profiles,
        put => settings::profiles_put::set_device_profiles,
    }
    "/api/v1/devices/{device_id}" => {
        get => devices::get::get_device,
        patch => devices::update::update_device,
        delete => devices::delete::delete_device,
    }
    "/api/v1/devices/{device_id}/keys" => { post => devices::rekey::issue_device_key }
    // PUT is the reference's method; the Python SDK sends POST.
    "/api/v1/devices/{device_id}/heartbeat" => {
        put => devices::heartbeat::record_heartbeat,
        post => devices::heartbeat::record_heartbeat,
    }
    "/api/v1/devices/{device_id}/sync" => { post => devices::sync::sync_device }
    "/api/v1/devices/{device_id}/desired-state" => {
        get => devices::desired_get::get_desired_state,
        post => devices::desired_post::fetch_desired_state,
    }
    "/api/v1/devices/{device_id}/observed-state" => {
        post => devices::observed::report_observed_state
    }
    "/api/v1/devices/{device_id}/assignments" => { get => devices::assignments::get_assignments }
    "/api/v1/control/sync" => { get => devices::control_sync::sync_control }
    "/api/v1/control/heartbeat" => { post => devices::control_heartbeat::record_control_heartbeat }
    "/api/v1/models" => {
        get => models::list::list_models,
        post => models::create::create_model,
    }
    "/api/v1/models/{model_id}/versions" => {
        post => models::add_version::add_version,
        get => models::versions::list_versions,
    }
    // Hosted model files (issue 26, part A): publishing the bytes and downloading them.
    // Before any `/api/v1/models/{model_id}/versions/{version}` resource, whose pattern
    // would also match `upload-url` and `confirm-upload`.
    "/api/v1/models/{model_id}/versions/upload-url" => {
        post => artifacts::upload_url::start_upload
    }
    "/api/v1/models/{model_id}/versions/confirm-upload" => {
        post => artifacts::confirm::confirm_upload
    }
    "/api/v1/artifacts/uploads/{upload_id}" => {
        put => artifacts::upload::put_upload,
        get => artifacts::upload::get_upload,
    }
    // HEAD first: a GET route also answers HEAD (method_route), so a resource's own HEAD
    // handler is reached only when it comes before its GET.
    "/api/v1/artifacts/{artifact_id}/files/{path}" => {
        head => artifacts::file::head_file,
        get => artifacts::file::get_file,
    }
    // issue 26 (delivery): the Python device agent's chunk of a hosted file.
    "/api/v1/artifacts/{artifact_id}/chunks/{path}/{n}" => {
        get => artifacts::chunk::get_chunk
    }
    "/api/v1/artifacts/{artifact_id}/manifest" => {
        get => artifacts::manifest::get_manifest
    }
    "/api/v1/artifacts/{artifact_id}/download-urls" => {
        post => artifacts::manifest::post_download_urls
    }
    "/api/v1/models/{model_id}/versions/{version}/download-url" => {
        get => artifacts::download_url::get_download_url
    }
    "/api/v1/models/{model_id}/versions/{version}/download" => {
        get => artifacts::download_url::download_version
    }
    // issue 26 (registry reads and deletion): by a model's id or its name.
    "/api/v1/models/{model_id}" => {
        get => models::get::get_model,
        delete => models::delete::delete_model,
    }
    "/api/v1/models/{model_id}/updates" => { get => models::updates::check_updates }
    "/api/v1/models/{model_id}/deployments" => {
        get => models::deployments::list_model_deployments
    }
    "/api/v1/models/{model_id}/versions/{version}" => {
        get => models::version::get_version,
        delete => models::delete_version::delete_version,
    }
    "/api/v1/models/{model_id}/versions/{version}/resolve" => {
        post => models::resolve::resolve_version
    }
    "/api/v1/devices/{device_id}/models/{model_id}/version" => {
        get => devices::model_version::get_device_model_version
    }
    "/api/v1/registry/pull" => { post => registry::pull::pull_model }
    "/api/v1/registry/resolve/{reference}" => { get => registry::resolve::resolve_reference }
    "/api/v1/deployments" => { post => deployments::create::create_deployment }
    "/api/v1/deployments/{deployment_id}" => { get => deployments::get::get_deployment }
    "/api/v1/deployments/{deployment_id}/cancel" => {
        post => deployments::cancel::cancel_deployment
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
    "/api/v1/device-auth/bootstrap-tokens" => { post => tokens::mint::mint_bootstrap_token }
    "/api/v1/device-auth/bootstrap" => { post => tokens::bootstrap::bootstrap_device }
    "/api/v1/device-auth/refresh" => { post => tokens::refresh::refresh_device_tokens }
    "/api/v1/device-auth/revoke" => { post => tokens::revoke::revoke_device_tokens }
    // The browser SDK's paths for the same two.
    "/api/v1/auth/refresh" => {
        post => tokens::refresh::refresh_device_tokens as refresh_browser_tokens
    }
    "/api/v1/auth/revoke" => {
        post => tokens::revoke::revoke_device_tokens as revoke_browser_tokens
    }
    "/api/v2/telemetry/events" => { post => telemetry::otlp::ingest_otlp_logs }
    "/api/v1/telemetry/batches" => { post => telemetry::batch::ingest_telemetry_batch }
    "/api/v1/devices/{device_id}/telemetry" => { get => devices::list_telemetry::list_telemetry }
    "/api/v1/training/rounds/{round_id}/result" => { get => rounds::result::get_round_result }
    "/api/v1/training/rounds/{round_id}/status" => { get => rounds::status::get_round_status }
    // Federated rounds through the SDKs (issue 17): the device agent's paths and the
    // generated contract's, over the same rounds.
    "/api/v1/federation/offers" => { get => rounds::offers::list_offers }
    "/api/v1/federation/rounds/offers" => { get => rounds::round_offers::list_round_offers }
    "/api/v1/federation/rounds/{round_id}/join" => {
        post => rounds::federated_join::join_federated_round
    }
    "/api/v1/federation/plans/{plan_id}" => { get => rounds::plan::get_plan }
    "/api/v1/federation/rounds/{round_id}/heartbeat" => {
        post => rounds::heartbeat::record_round_heartbeat
    }
    "/api/v1/federation/rounds/{round_id}/uploads" => {
        post => rounds::upload_initiate::initiate_upload
    }
    // The generated contract's path for the same.
    "/api/v1/federation/rounds/{round_id}/updates/initiate" => {
        post => rounds::upload_initiate::initiate_upload as initiate_update
    }
    "/api/v1/federation/uploads/{upload_id}/parts/{part}" => {
        put => rounds::upload_part::put_upload_part
    }
    "/api/v1/federation/rounds/{round_id}/uploads/{upload_id}/complete" => {
        post => rounds::upload_complete::complete_upload
    }
    // The generated contract's path for the same.
    "/api/v1/federation/rounds/{round_id}/updates/{upload_id}/complete" => {
        post => rounds::upload_complete::complete_upload as complete_update
    }
    // issue 27 (sdk3): the browser's federation paths (a federation is the model its
    // rounds train) and the legacy weight upload, over the same rounds and FedAvg.
    "/api/v1/federations/{federation_id}/rounds/current" => {
        get => rounds::federation_current::get_current_round
    }
    "/api/v1/federations/{federation_id}/rounds/{round_id}/join" => {
        post => rounds::federation_join::join_federation_round
    }
    "/api/v1/federations/{federation_id}/rounds/{round_id}/submit" => {
        post => rounds::federation_submit::submit_federation_update
    }
    "/api/v1/training/weights" => { post => rounds::weights::upload_weights }
    // Experiments (issue 27): the operator's management calls, the devices' reads and
    // reports, the results.
    "/api/v1/experiments" => {
        get => experiments::list::list_experiments,
        post => experiments::create::create_experiment,
    }
    "/api/v1/experiments/{experiment_id}" => { get => experiments::get::get_experiment }
    "/api/v1/experiments/{experiment_id}/start" => { post => experiments::start::start_experiment }
    "/api/v1/experiments/{experiment_id}/pause" => { post => experiments::pause::pause_experiment }
    "/api/v1/experiments/{experiment_id}/resume" => {
        post => experiments::resume::resume_experiment
    }
    "/api/v1/experiments/{experiment_id}/complete" => {
        post => experiments::complete::complete_experiment
    }
    "/api/v1/experiments/{experiment_id}/cancel" => {
        post => experiments::cancel::cancel_experiment
    }
    "/api/v1/experiments/{experiment_id}/assign" => { get => experiments::assign::assign_device }
    "/api/v1/experiments/{experiment_id}/events" => { post => experiments::report::report_event }
    "/api/v1/experiments/{experiment_id}/metrics" => {
        post => experiments::metrics::report_metric
    }
    "/api/v1/experiments/{experiment_id}/results" => { get => experiments::results::get_results }
    // The Python SDK's `get_analytics` reads the same.
    "/api/v1/experiments/{experiment_id}/analytics" => {
        get => experiments::results::get_results as get_analytics
    }
    // issue 27 (sdk2): the rest of the device loop.
    "/api/v1/devices/{device_id}/groups" => { get => devices::groups::get_device_groups }
    "/api/v1/settings/org/{org_id}/device-policy" => {
        get => settings::policy_get::get_device_policy,
        put => settings::policy_put::set_device_policy,
    }
    "/api/v1/inference/events" => { post => telemetry::inference::report_inference_event }
    // Node's and the browser's training jobs: a device's part in a round.
    "/api/v1/devices/{device_id}/training-jobs" => {
        post => devices::training_job_create::create_training_job
    }
    "/api/v1/devices/{device_id}/training-jobs/{job_id}/status" => {
        post => devices::training_job_status::report_training_job_status
    }
    "/api/v1/devices/{device_id}/training-jobs/{job_id}/complete" => {
        post => devices::training_job_complete::complete_training_job
    }
    // The runtime planner and the query-routing policy (Python, iOS, Node).
    "/api/v2/runtime/plan" => { post => runtime::plan::plan_runtime }
    "/api/v2/runtime/defaults" => { get => runtime::defaults::get_runtime_defaults }
    "/api/v2/runtime/benchmarks" => {
        post => runtime::benchmark_submit::report_benchmark,
        get => runtime::benchmark_list::list_benchmarks,
    }
    "/api/v1/route/policy" => { get => runtime::route_policy::get_route_policy }
    // iOS and Android ask `/health` of the host, other clients `/api/v1/health`.
    "/health" => { get => ops::health::get_health as get_health_root }
    "/api/v1/health" => { get => ops::health::get_health as get_health_api }
    "/healthz" => { get => ops::health::get_health }
    "/readyz" => { get => ops::readiness::get_readiness }
    "/metrics" => { get => ops::metrics::get_metrics }
    "/openapi.json" => { get => ops::document::get_openapi }
    // Test control: only in ephemeral mode; elsewhere the guard fails and it is a 404.
    "/_devreg/reset" [guard::fn_guard(is_ephemeral)] => { post => test_control::reset::reset_state }
    "/_devreg/requests" [guard::fn_guard(is_ephemeral)] => {
        get => test_control::requests::list_requests,
        delete => test_control::requests::clear_requests,
    }
    "/_devreg/clock" [guard::fn_guard(is_ephemeral)] => {
        get => test_control::clock::get_clock,
        post => test_control::clock::move_clock,
    }
    pages:
    "/" => { get => console::pages::redirect_to_console }
    "/console" => { get => console::pages::get_console }
    "/console/" => { get => console::pages::get_console }
    "/console/{file}" => { get => console::pages::get_asset }
}

/// The actix route of a table line's method. A GET route answers HEAD too, as HTTP says
/// it should (RFC 9110, 9.3.2): the same status and headers, and actix leaves the body out.
fn method_route(method: &str) -> actix_web::Route {
    match method {
        "get" => web::route().guard(guard::Any(guard::Get()).or(guard::Head())),
        other => web::route().method(
            actix_web::http::Method::from_bytes(other.to_ascii_uppercase().as_bytes())
                .expect("the route table names HTTP methods"),
        ),
    }
}

/// Whether the server is ephemeral: only then do the test-control routes exist.
fn is_ephemeral(ctx: &guard::GuardContext<'_>) -> bool {
    ctx.app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.baseline.is_some())
}

/// Paths older SDKs call that devreg does not serve, and what replaces each: their 404
/// says so instead of only "no route".
const REPLACED: &[(&str, &str)] = &[];

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    if let Some((path, instead)) = REPLACED.iter().find(|(p, _)| *p == req.path()) {
        return Err(ApiError::NotFound(format!(
            "{} {path}: {instead}",
            req.method().as_str()
        )));
    }
    Err(ApiError::from_status(
        actix_web::http::StatusCode::NOT_FOUND,
        req.method().as_str(),
        req.path(),
    ))
}

/// Parses a JSON body whatever its Content-Type. An empty body is `None`; anything but one
/// JSON object with nothing after it is a 400 saying what was sent; a field of the wrong
/// type or value is a 400 naming the field.
pub fn parse_json_object<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    // No body is none; a body of only whitespace is not JSON.
    if body.is_empty() {
        return Ok(None);
    }
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Err(ApiError::BadRequest(
            "the request body is not valid JSON: it holds only whitespace; send a JSON object, \
             or no body"
                .to_owned(),
        ));
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
    let mut deserializer = serde_json::Deserializer::from_slice(trimmed);
    let parsed = serde_path_to_error::deserialize(&mut deserializer)
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
        })?;
    // One object and nothing after it: `{"a":1}{"b":2}` or `{...}garbage` is not a body
    // whose meaning is clear.
    deserializer.end().map_err(|err| {
        ApiError::BadRequest(format!(
            "the request body must be one JSON object with nothing after it; more follows \
             it at line {} column {}",
            err.line(),
            err.column()
        ))
    })?;
    Ok(parsed)
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

/// The answer for a device the caller cannot act on (`store::devices::acting_device`).
impl From<NotActing> for ApiError {
    fn from(refusal: NotActing) -> Self {
        match refusal {
            NotActing::NotFound(named) => device_not_found(&named),
            NotActing::OwnDeviceGone => {
                ApiError::Unauthorized("the API key's device no longer exists".to_owned())
            }
            NotActing::Unnamed => ApiError::BadRequest(
                "device_id is required with an org key: the device (its identifier or its id) \
                 the request is for"
                    .to_owned(),
            ),
            NotActing::Store(err) => err.into(),
        }
    }
}

/// The 404 for a device the caller cannot see, whether it exists elsewhere or not at all.
pub fn device_not_found(reference: &str) -> ApiError {
    ApiError::NotFound(format!("no device {} in this key's org", quoted(reference)))
}
