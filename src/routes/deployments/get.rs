//! `GET /api/v1/deployments/{deployment_id}`

use actix_web::{HttpResponse, web};

use super::DeploymentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::deployments;

pub const ACCESS: Access = Access {
    action: "reading a deployment",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Retrieve a deployment
///
/// A deployment of the key's org with its rollout counts, counted now: `targeted`,
/// `synced`, `active`, `failed`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "deployments",
    params(("deployment_id" = String, Path, min_length = 1, description = "The deployment's id.")),
    responses(
        (status = 200, description = "The deployment.", body = DeploymentBody),
        (status = 404, description = "No such deployment in the key's org."),
    ),
)]
pub async fn get_deployment(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let (org_id, id) = (credential.org_id.clone(), path.into_inner());
    let (deployment, rollout) = state
        .db
        .read(move |conn| deployments::get(conn, org_id.as_str(), &id))
        .await?;
    Ok(HttpResponse::Ok().json(DeploymentBody::of(&deployment, rollout)))
}
