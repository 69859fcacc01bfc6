//! `GET /api/v1/devices/{device_id}/desired-state`

use actix_web::{HttpResponse, web};

use super::desired_state::{DesiredStateAnswer, device_for, fetch};
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;

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
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let device = device_for(&state, &credential, &path).await?;
    let desired = fetch(&state, &device, None, true, false).await?;
    Ok(HttpResponse::Ok().json(DesiredStateAnswer::new(&state, &device, &desired, None)))
}
