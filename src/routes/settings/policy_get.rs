//! `GET /api/v1/settings/org/{org_id}/device-policy`

use actix_web::{HttpResponse, web};

use super::{PolicyBody, own_org};
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::device_settings;

pub const ACCESS: Access = Access {
    action: "reading the device policy",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// Read the org's device policy
///
/// What the SDKs check before a device trains or downloads (iOS `getDevicePolicy`,
/// Android): the battery level it needs and the network it may use, as the operator set
/// them with `PUT`, else the defaults (20 %, `wifi_only`). The path's org must be the
/// key's.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "settings",
    params(("org_id" = String, Path, description = "The key's org.")),
    responses(
        (status = 200, description = "The policy.", body = PolicyBody),
        (status = 404, description = "The path names an org other than the key's."),
    ),
)]
pub async fn get_device_policy(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let org_id = own_org(&credential, &path)?;
    let org = org_id.clone();
    let policy = state
        .db
        .read(move |conn| device_settings::device_policy(conn, &org))
        .await?;
    Ok(HttpResponse::Ok().json(PolicyBody::of(org_id, policy)))
}
