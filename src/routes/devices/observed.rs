//! `POST /api/v1/devices/{device_id}/observed-state`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::desired_state::fetch;
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::desired::FetchCommand;

pub const ACCESS: Access = Access {
    action: "reporting a device's observed state",
    allows: super::desired_state::DEVICE_STATE,
    target: Target::PathDevice,
};

/// The report was taken.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "accepted": true,
    "device_id": "01a2147f-daeb-7763-909c-9e315a041b31",
    "models": 1,
    "desired_state_version": 1
})))]
struct ObservedAck {
    accepted: bool,
    device_id: String,
    /// How many model entries the report had.
    models: usize,
    desired_state_version: i64,
}

/// Report a device's observed state
///
/// What the device runs, per model, in any SDK's shape: camelCase `{schemaVersion,
/// deviceId, reportedAt, models[{modelId, status, installedVersion, activeVersion |
/// version}]}` (Python, Node, browser) or snake_case `{schema_version, device_id,
/// reported_at, models[{model_id, artifact_version, status}]}` (iOS, Android). `models`
/// replaces the device's previous report; only what changed is written, with a
/// `device.observed_state_changed` event. Statuses compare case-insensitively; a model
/// is active at `activeVersion`, or at its installed version when its status is
/// `active`; a status containing `failed` is a failure. Retrieve shows it as
/// `observed_state`; it feeds the deployments' rollout counts.
#[utoipa::path(post, path = crate::routes::FROM_TABLE,
    tag = "device state",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's UUID `id` or its identifier.")),
    request_body(content = Object, description = "The report: a JSON object with `models`."),
    responses(
        (status = 200, description = "Taken.", body = ObservedAck),
    ),
)]
pub async fn report_observed_state(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let body: Map<String, Value> = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest(
            "the observed state must be a JSON object with a models array".to_owned(),
        )
    })?;
    // Without `models` the report says nothing about models, and changes nothing.
    let models = match body.get("models") {
        None | Some(Value::Null) => None,
        Some(list) => Some(super::desired_state::observed_models(
            list,
            "models",
            &Map::new(),
        )?),
    };
    let count = models.as_ref().map_or(0, Vec::len);
    let command = FetchCommand {
        report: models,
        ..FetchCommand::default()
    };
    let fetched = fetch(&state, acting, command).await?;
    Ok(HttpResponse::Ok().json(ObservedAck {
        accepted: true,
        device_id: fetched.device.id,
        models: count,
        desired_state_version: fetched.desired.version,
    }))
}
