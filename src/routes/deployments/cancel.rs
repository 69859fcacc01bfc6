//! `POST /api/v1/deployments/{deployment_id}/cancel`

use actix_web::{HttpResponse, web};

use super::DeploymentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::deployments;

pub const ACCESS: Access = Access {
    action: "cancelling a deployment",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Cancel a deployment
///
/// Ends an active deployment: it leaves the desired state of every device it targeted
/// (a device's older deployment of the same model, if still active, applies again), with
/// a `deployment.cancelled` event. One already cancelled is a 409. No body is read.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "deployments",
    params(("deployment_id" = String, Path, min_length = 1, description = "The deployment's id.")),
    responses(
        (status = 200, description = "The deployment, now cancelled.", body = DeploymentBody),
        (status = 404, description = "No such deployment in the key's org."),
        (status = 409, description = "The deployment is cancelled already."),
    ),
)]
pub async fn cancel_deployment(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let (org_id, id) = (credential.org_id.clone(), path.into_inner());
    let now = state.clock.now();
    let (deployment, rollout) = state
        .db
        .write(move |tx| deployments::cancel(tx, org_id.as_str(), &id, now))
        .await?;
    Ok(HttpResponse::Ok().json(DeploymentBody::of(&deployment, rollout)))
}
