//! `GET /api/v1/models/{model_id}/versions/{version}`

use actix_web::{HttpRequest, HttpResponse, web};

use super::answers::VersionInfo;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::signed::point_home;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "reading a model version",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// Retrieve a model version
///
/// One version of a model of the key's org (named by its id or its name): its manifest,
/// under devreg's names and the SDKs'. `latest` names the newest version (unless the model
/// has a version called `latest`).
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("model_id" = String, Path, min_length = 1, description = "The model's id, or its name."),
        ("version" = String, Path, min_length = 1, description = "The version, or `latest`."),
    ),
    responses(
        (status = 200, description = "The version.", body = VersionInfo),
        (status = 404, description = "No such model in the key's org, or no such version."),
        (status = 409, description = "The name is several models' and none's id."),
    ),
)]
pub async fn get_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let org_id = credential.org_id.clone();
    let (reference, version) = path.into_inner();
    let mut delivery = state
        .db
        .read(move |conn| registry::find_version(conn, org_id.as_str(), &reference, &version))
        .await?;
    point_home(&req, &state, credential.org_id.as_str(), &mut delivery);
    Ok(HttpResponse::Ok().json(VersionInfo::of_delivery(&delivery)))
}
