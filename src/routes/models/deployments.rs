//! `GET /api/v1/models/{model_id}/deployments`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::deployments::DeploymentBody;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "listing a model's deployments",
    allows: &[Allow::Secret],
    target: Target::Org,
};

#[derive(Serialize, ToSchema)]
struct ModelDeployments<'a> {
    model_id: &'a str,
    /// Newest first, active and cancelled, each with its rollout counted now.
    deployments: Vec<DeploymentBody<'a>>,
}

/// List a model's deployments
///
/// The deployments of a model of the key's org (named by its id or its name), newest
/// first, with their rollout counts (`targeted`, `synced`, `active`, `failed`): which
/// deployments use which version.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(("model_id" = String, Path, min_length = 1,
        description = "The model's id, or its name.")),
    responses(
        (status = 200, description = "The deployments.", body = ModelDeployments),
        (status = 404, description = "No model of that id or name in the key's org."),
        (status = 409, description = "The name is several models' and none's id."),
    ),
)]
pub async fn list_model_deployments(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let (org_id, reference) = (credential.org_id.clone(), path.into_inner());
    let (model, deployments) = state
        .db
        .read(move |conn| registry::deployments_of(conn, org_id.as_str(), &reference))
        .await?;
    Ok(HttpResponse::Ok().json(ModelDeployments {
        model_id: &model.model_id,
        deployments: deployments
            .iter()
            .map(|(d, r)| DeploymentBody::of(d, *r))
            .collect(),
    }))
}
