//! `GET /api/v1/devices/{device_id}`

use actix_web::{HttpResponse, web};

use super::DeviceDetail;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::devices;

pub const ACCESS: Access = Access {
    action: "reading a device",
    allows: &[Allow::Secret, Allow::Device],
    target: Target::PathDevice,
};

/// Retrieve a device
///
/// A device of the key's org, by its identifier or its UUID `id`.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}", tag = "devices",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    responses(
        (status = 200, description = "The device.", body = super::DeviceDetail),
        (status = 404, description = "No such device in the key's org (or, for a device key, \
            another device)."),
    ),
)]
pub async fn get_device(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let detail = state
        .db
        .read(move |conn| devices::detail(conn, &acting))
        .await?;
    Ok(HttpResponse::Ok().json(DeviceDetail::new(&detail, &state)))
}
