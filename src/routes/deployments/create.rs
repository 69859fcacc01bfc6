//! `POST /api/v1/deployments`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::DeploymentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{DeploymentTarget, ModelId, PolicyName, VersionName};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::deployments;

pub const ACCESS: Access = Access {
    action: "creating a deployment",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// A deployment to create. Unknown fields are ignored (but not in `target`, where a
/// misspelt part would silently widen it).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "model_id": "kbd-next-word",
    "version": "1.0.0",
    "target": {"devices": ["laptop-001"], "platforms": ["ios"], "labels": {"ring": "beta"}},
    "activation_policy": "immediate",
    "delivery_mode": "managed"
})))]
struct CreateDeployment {
    model_id: ModelId,
    version: VersionName,
    /// `devices` (UUIDs or identifiers), `platforms`, `labels` (`{KEY: VALUE}`): all given
    /// parts must match; absent or `{}` matches every device of the org.
    target: Option<DeploymentTarget>,
    /// Default `immediate`.
    activation_policy: Option<PolicyName>,
    /// Default `managed`.
    delivery_mode: Option<PolicyName>,
}

impl CreateDeployment {
    /// The deployment to create: the target's parts (absent, any device), and the
    /// policies' defaults.
    fn into_command(self) -> deployments::NewDeployment {
        let target = self.target.unwrap_or_default();
        deployments::NewDeployment {
            model_id: self.model_id.as_str().to_owned(),
            version: self.version.as_str().to_owned(),
            devices: target.devices.into_iter().map(String::from).collect(),
            platforms: target.platforms.into_iter().map(String::from).collect(),
            labels: target.labels,
            activation_policy: self
                .activation_policy
                .unwrap_or(PolicyName::named("immediate"))
                .into(),
            delivery_mode: self
                .delivery_mode
                .unwrap_or(PolicyName::named("managed"))
                .into(),
        }
    }
}

/// Create a deployment
///
/// Deploys a model version to the devices its target matches, in the key's org; a
/// device's desired state is, per model, the newest active deployment that matches it.
/// A target that matches no device is allowed (`targeted: 0`); devices that register
/// later and match it get it. An unknown model or version is a 404 naming it.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "deployments",
    request_body(content = CreateDeployment, description = "The deployment."),
    responses(
        (status = 201, description = "Created; `Location` is its URL.", body = DeploymentBody,
            headers(("Location" = String, description = "`/api/v1/deployments/{id}`"))),
        (status = 404, description = "The org has no such model, or the model no such version."),
    ),
)]
pub async fn create_deployment(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: CreateDeployment = parse_json_object(&body)?
        .ok_or_else(|| ApiError::BadRequest("model_id and version are required".to_owned()))?;
    let new = request.into_command();
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    let (deployment, rollout) = state
        .db
        .write(move |tx| deployments::create(tx, org_id.as_str(), &new, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/deployments/{}", deployment.id),
        ))
        .json(DeploymentBody::of(&deployment, rollout)))
}
