//! `GET /api/v1/devices/{device_id}`

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde_json::Value;

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
/// A device of the key's org, by its identifier or its UUID `id`. To a caller whose
/// `User-Agent` is the iOS SDK's (`octomil-ios/…`), `capabilities` values that are not
/// strings are sent as their JSON text: iOS decodes `capabilities` as `[String: String]`
/// (`DeviceInfo`, APIModels+Device.swift) but registers booleans and numbers in it.
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
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let detail = state
        .db
        .read(move |conn| devices::detail(conn, &acting))
        .await?;
    let detail = DeviceDetail::new(&detail, &state);
    let from_ios = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|ua| ua.to_str().ok())
        .is_some_and(|ua| ua.starts_with("octomil-ios/"));
    if !from_ios {
        return Ok(HttpResponse::Ok().json(detail));
    }
    let mut body = serde_json::to_value(detail).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(Value::Object(capabilities)) = body.get_mut("capabilities") {
        for value in capabilities.values_mut() {
            if !value.is_string() {
                *value = Value::String(value.to_string());
            }
        }
    }
    Ok(HttpResponse::Ok().json(body))
}
