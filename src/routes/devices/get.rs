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
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "devices",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    responses(
        (status = 200, description = "The device.", body = super::DeviceDetail,
            links(("SendHeartbeat" = (operation_id = "record_heartbeat", parameters(("device_id" =
                    "$response.body#/id")), description = "Heartbeat this device.")),
                ("SendHeartbeatByPost" = (operation_id = "record_heartbeat_post", parameters((
                    "device_id" = "$response.body#/id")),
                    description = "Heartbeat it as the Python SDK does.")),
                ("ListDevices" = (operation_id = "list_devices", parameters(("org_id" =
                    "$response.body#/org_id")), description = "List the devices of its org.")))),
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
