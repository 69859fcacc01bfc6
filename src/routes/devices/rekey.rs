//! `POST /api/v1/devices/{device_id}/keys`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{ApiKey, DeviceIdentifier, KeyKind, Timestamp};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::devices;

pub const ACCESS: Access = Access {
    action: "issuing a device key",
    allows: &[Allow::Secret],
    target: Target::PathDevice,
};

/// A device's new key: shown this once, never again.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "01a2147f-daeb-7763-909c-9e315a041b31",
    "device_id": "laptop-001",
    "device_identifier": "laptop-001",
    "key_id": "key_01a2147fdaeb7763909c9e315a041b32",
    "api_key": "edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN",
    "access_token": "edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN",
    "created_at": "2026-11-25T20:57:33Z"
})))]
struct IssuedKey<'a> {
    #[schema(format = Uuid)]
    id: &'a str,
    device_id: &'a DeviceIdentifier,
    device_identifier: &'a DeviceIdentifier,
    /// The key's id, as `devreg key revoke` takes it.
    key_id: &'a str,
    /// The device's new key (`edg_dev_…`); every earlier key of the device is revoked.
    api_key: &'a str,
    /// The same as `api_key`, under the name some SDKs read.
    access_token: &'a str,
    created_at: Timestamp,
}

/// Issue a new device key
///
/// Issues a new key for a device of the key's org, shown this once, and revokes every
/// earlier key of the device (they are 401 from then on): for a lost or leaked key.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "devices",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    responses(
        (status = 201, description = "Issued.", body = IssuedKey),
    ),
)]
pub async fn issue_device_key(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let key = ApiKey::generate(KeyKind::Device);
    let stored = key.clone();
    let now = state.clock.now();
    let devices::Rekeyed { device, key_id } = state
        .db
        .write(move |tx| devices::rekey(tx, &acting, &stored, now))
        .await?;
    Ok(HttpResponse::Created().json(IssuedKey {
        id: &device.id,
        device_id: &device.identifier,
        device_identifier: &device.identifier,
        key_id: &key_id,
        api_key: key.expose(),
        access_token: key.expose(),
        created_at: now,
    }))
}
