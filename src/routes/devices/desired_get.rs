//! `GET /api/v1/devices/{device_id}/desired-state`

use actix_web::{HttpResponse, web};

use super::desired_state::{DesiredStateAnswer, fetch};
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::desired::FetchCommand;

pub const ACCESS: Access = Access {
    action: "reading a device's desired state",
    allows: super::desired_state::DEVICE_STATE,
    target: Target::PathDevice,
};

/// Read a device's desired state
///
/// Per model, the version of the newest active deployment whose target matches the
/// device, with its artifact manifest, and the device's `desired_state_version` (an
/// integer that goes up whenever its desired models change). The answer is the sync's.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "device state",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's UUID `id` or its identifier.")),
    responses(
        (status = 200, description = "The desired state.", body = DesiredStateAnswer),
    ),
)]
pub async fn get_desired_state(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let command = FetchCommand {
        mark_synced: true,
        ..FetchCommand::default()
    };
    let fetched = fetch(&state, acting, command).await?;
    Ok(HttpResponse::Ok().json(DesiredStateAnswer::new(
        &state,
        &fetched,
        None,
        &crate::routes::artifacts::base_url(&req),
    )))
}
