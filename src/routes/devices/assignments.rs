//! `GET /api/v1/devices/{device_id}/assignments`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::desired_state::fetch;
use crate::auth::{Access, Caller, Target};
use crate::domain::{KeyKind, Timestamp};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::desired::FetchCommand;

pub const ACCESS: Access = Access {
    action: "reading a device's assignments",
    allows: super::desired_state::DEVICE_STATE,
    target: Target::PathDevice,
};

/// One assigned model (Node reads `model_id, version, config`).
#[derive(Serialize, ToSchema)]
struct Assignment {
    model_id: String,
    version: String,
    /// `deployment_id, artifact_id, activation_policy, delivery_mode`.
    #[schema(value_type = Object)]
    config: Value,
}

/// What `refresh()` reads (Python, Node, browser).
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "device_id": "01a2147f-daeb-7763-909c-9e315a041b31",
    "assignments": [{"model_id": "kbd-next-word", "version": "1.0.0",
        "config": {"deployment_id": "01a21480-0b1c-7d41-8f4a-3c2e9f0d7a11",
            "artifact_id": "art_01a2148a6c1e7f3b9d2a4c5e6f708192",
            "activation_policy": "immediate", "delivery_mode": "managed"}}],
    "config_version": "1",
    "desired_state_version": 1,
    "updated": true,
    "assignments_changed": true,
    "rollouts_changed": true,
    "fetched_at": "2026-11-25T20:57:33Z"
})))]
struct Assignments {
    device_id: String,
    assignments: Vec<Assignment>,
    /// The `desired_state_version`, as a string.
    config_version: String,
    desired_state_version: i64,
    /// Whether the desired state changed since this device's previous refresh; the same
    /// value in all three.
    updated: bool,
    assignments_changed: bool,
    rollouts_changed: bool,
    fetched_at: Timestamp,
}

/// The 403 for a publishable key: the platform's publishable keys carry only the scopes
/// `devices:register, devices:heartbeat, telemetry:write, models:read` (Python SDK
/// octomil/auth.py 149-172), and a key shipped in every copy of an app must not read
/// any device's state by its id (docs/api.md, "Registering again").
fn publishable_refused() -> ApiError {
    ApiError::Forbidden(
        "reading a device's assignments needs the device's own key (or its access token) or \
         the org's secret key; a publishable key cannot (its scopes are devices:register, \
         devices:heartbeat, telemetry:write and models:read): use the access_token the \
         register answer carries"
            .to_owned(),
    )
}

/// Read a device's assignments
///
/// The device's desired models as assignments, and whether they changed since its
/// previous refresh (this endpoint or `GET /api/v1/control/sync`).
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "device state",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's UUID `id` or its identifier.")),
    responses(
        (status = 200, description = "The assignments.", body = Assignments),
    ),
)]
pub async fn get_assignments(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if let Some(credential) = &caller.0
        && credential.kind == KeyKind::Publishable
    {
        return Err(publishable_refused());
    }
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let command = FetchCommand {
        mark_refreshed: true,
        ..FetchCommand::default()
    };
    let fetched = fetch(&state, acting, command).await?;
    let (device, desired) = (fetched.device, fetched.desired);
    let changed = desired.previously_refreshed != desired.version;
    Ok(HttpResponse::Ok().json(Assignments {
        device_id: device.id,
        assignments: desired
            .models
            .iter()
            .map(|(d, v)| Assignment {
                model_id: d.model_id.clone(),
                version: d.version.clone(),
                config: json!({
                    "deployment_id": d.id,
                    "artifact_id": v.artifact_id,
                    "activation_policy": d.activation_policy,
                    "delivery_mode": d.delivery_mode,
                }),
            })
            .collect(),
        config_version: desired.version.to_string(),
        desired_state_version: desired.version,
        updated: changed,
        assignments_changed: changed,
        rollouts_changed: changed,
        fetched_at: state.clock.now(),
    }))
}
