//! `DELETE /api/v1/devices/{device_id}`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::DeviceIdentifier;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::devices;

pub const ACCESS: Access = Access {
    action: "deleting a device",
    allows: &[Allow::Secret],
    target: Target::PathDevice,
};

/// A device that is gone.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "deleted": true,
    "id": "01a2147f-daeb-7763-909c-9e315a041b31",
    "device_id": "laptop-001"
})))]
struct DeletedDevice {
    /// Always true.
    deleted: bool,
    #[schema(format = Uuid)]
    id: String,
    device_id: DeviceIdentifier,
}

/// Delete a device
///
/// Removes a device of the key's org and everything of it, in one transaction: its keys
/// (which are 401 from then on), labels, connectivity and round participation. Its
/// earlier events stay in the log as history, and `device.deleted` is added. The
/// identifier may be registered again.
#[utoipa::path(delete, path = crate::routes::FROM_TABLE, tag = "devices",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    responses(
        (status = 200, description = "Deleted.", body = DeletedDevice),
    ),
)]
pub async fn delete_device(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let now = state.clock.now();
    let device = state
        .db
        .write(move |tx| devices::delete(tx, &acting, now))
        .await?;
    Ok(HttpResponse::Ok().json(DeletedDevice {
        deleted: true,
        id: device.id,
        device_id: device.identifier,
    }))
}
