//! `GET /api/v1/devices/profiles`

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::{ProfilesBody, etag};
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::device_settings;

pub const ACCESS: Access = Access {
    action: "reading the device profiles",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// Read the org's device profiles
///
/// iOS's `DeviceProfileClient` asks for the map from machine identifier (`iPhone16,1`)
/// to profile (`iphone_15_pro`) and caches it for `ttl_seconds`; a machine the map does
/// not name falls back to its RAM tier. Empty until the operator sets it with `PUT`.
/// The `ETag` header is the body's `etag`. Only GET: a device whose identifier is
/// `profiles` is retrieved by its UUID.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "settings",
    responses((status = 200, description = "The map.", body = ProfilesBody)),
)]
pub async fn get_device_profiles(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let org_id = credential.org_id.clone();
    let profiles = state
        .db
        .read(move |conn| device_settings::device_profiles(conn, org_id.as_str()))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(&profiles)))
        .json(ProfilesBody::of(&profiles, state.clock.now())))
}
