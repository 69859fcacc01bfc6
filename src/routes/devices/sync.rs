//! `POST /api/v1/devices/{device_id}/sync`

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value};

use super::desired_state::{DesiredStateAnswer, active_versions, fetch, known_state_version};
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::desired::FetchCommand;

pub const ACCESS: Access = Access {
    action: "syncing a device's state",
    allows: super::desired_state::DEVICE_STATE,
    target: Target::PathDevice,
};

/// Sync a device's state
///
/// The unified sync every SDK calls (camelCase body: `schemaVersion, deviceId,
/// knownStateVersion, modelInventory[{modelId, version, artifactId, status}],
/// activeVersions[{modelId|model_id, version}]`, ...): the device's inventory, when sent and
/// not empty, replaces its observed state (only what changed is written), and the answer is its
/// desired state, both casings. `stateChanged` is false when `knownStateVersion` is the
/// current `desired_state_version`. An empty body is `{}`.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "device state",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's UUID `id` or its identifier.")),
    request_body(content = Option<Object>, description = "The sync request."),
    responses(
        (status = 200, description = "The desired state.", body = DesiredStateAnswer),
    ),
)]
pub async fn sync_device(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let body: Map<String, Value> = parse_json_object(&body)?.unwrap_or_default();
    let known = known_state_version(&body)?;
    let active = active_versions(
        body.get("activeVersions")
            .or_else(|| body.get("active_versions")),
    )?;
    // Node and iOS send `modelInventory: []` whenever their caller gave none (control.ts
    // `request.modelInventory ?? []`, ControlSync.swift's default `[]`): an empty inventory
    // says nothing, and leaves the observed state alone; `observed-state` with `models: []`
    // is how a device says it has no models.
    let inventory = body
        .get("modelInventory")
        .or_else(|| body.get("model_inventory"))
        .filter(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()));
    let report = match inventory {
        Some(list) => Some(super::desired_state::observed_models(
            list,
            "modelInventory",
            &active,
        )?),
        // Only active versions: each of those models is active at that version.
        None if !active.is_empty() => Some(
            active
                .iter()
                .map(|(model_id, version)| {
                    let entry = serde_json::json!({"modelId": model_id, "version": version,
                        "status": "active"});
                    super::desired_state::observed_models(
                        &Value::Array(vec![entry]),
                        "activeVersions",
                        &active,
                    )
                    .map(|mut v| v.remove(0))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let command = FetchCommand {
        report,
        mark_synced: true,
        mark_refreshed: false,
    };
    let fetched = fetch(&state, acting, command).await?;
    Ok(HttpResponse::Ok().json(DesiredStateAnswer::new(
        &state,
        &fetched,
        known.as_deref(),
        &crate::routes::artifacts::base_url(&req),
    )))
}
