//! `GET /api/v1/control/sync`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::desired_state::fetch;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::desired::FetchCommand;

pub const ACCESS: Access = Access {
    action: "syncing control state",
    allows: &[Allow::Device, Allow::Secret, Allow::Publishable],
    target: Target::OwnDevice,
};

/// iOS `ControlSyncResult`: every field required, `fetched_at` without fractions.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "updated": true,
    "config_version": "1",
    "assignments_changed": true,
    "rollouts_changed": true,
    "fetched_at": "2026-11-25T20:57:33Z"
})))]
struct ControlSyncResult {
    updated: bool,
    config_version: String,
    assignments_changed: bool,
    rollouts_changed: bool,
    fetched_at: Timestamp,
}

/// Sync control state (iOS)
///
/// iOS `ControlSync.refresh()`, which names no device: with a device key, whether that
/// device's desired state changed since its previous refresh, and its
/// `desired_state_version` as `config_version`; with an org key, which stands for no
/// device, nothing changed and `config_version` is `"0"`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "device state",
    responses((status = 200, description = "What changed.", body = ControlSyncResult)),
)]
pub async fn sync_control(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, None)?;
    let (mut version, mut changed) = (0, false);
    // An org key stands for no device: there is nothing to read.
    if acting.credential.own_device().is_some() {
        let command = FetchCommand {
            mark_refreshed: true,
            ..FetchCommand::default()
        };
        let desired = fetch(&state, acting, command).await?.desired;
        version = desired.version;
        changed = desired.previously_refreshed != desired.version;
    }
    Ok(HttpResponse::Ok().json(ControlSyncResult {
        updated: changed,
        config_version: version.to_string(),
        assignments_changed: changed,
        rollouts_changed: changed,
        fetched_at: state.clock.now(),
    }))
}
