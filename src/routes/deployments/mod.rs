//! Deployments: a model version for the devices a target matches (ids or identifiers,
//! platforms, labels), its rollout counts, and cancelling it. The org's secret key only.

pub mod cancel;
pub mod create;
pub mod get;

use serde::Serialize;

#[cfg(test)]
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::{ObjectValue, Timestamp};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::store::deployments::{Deployment, Refusal, Rollout};

/// A deployment with its rollout: `targeted` (devices its target matches now), `synced`
/// (of those, fetched a desired state carrying it), `active` (observed running its
/// version), `failed` (observed a failure for its model).
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "01a21480-0b1c-7d41-8f4a-3c2e9f0d7a11",
    "org_id": "org_demo",
    "model_id": "kbd-next-word",
    "version": "1.0.0",
    "target": {"devices": ["laptop-001"], "platforms": [], "labels": {}},
    "activation_policy": "immediate",
    "delivery_mode": "managed",
    "status": "active",
    "created_at": "2026-11-25T20:57:33Z",
    "cancelled_at": null,
    "targeted": 1, "synced": 0, "active": 0, "failed": 0,
    "rollout": {"targeted": 1, "synced": 0, "active": 0, "failed": 0}
})))]
pub struct DeploymentBody<'a> {
    #[schema(format = Uuid)]
    id: &'a str,
    org_id: &'a str,
    model_id: &'a str,
    version: &'a str,
    target: ObjectValue,
    activation_policy: &'a str,
    delivery_mode: &'a str,
    /// `active` or `cancelled`.
    status: &'a str,
    created_at: Timestamp,
    cancelled_at: Option<Timestamp>,
    targeted: u64,
    synced: u64,
    active: u64,
    failed: u64,
    /// The same four counts.
    rollout: ObjectValue,
}

impl<'a> DeploymentBody<'a> {
    pub fn of(d: &'a Deployment, r: Rollout) -> DeploymentBody<'a> {
        DeploymentBody {
            id: &d.id,
            org_id: &d.org_id,
            model_id: &d.model_id,
            version: &d.version,
            target: ObjectValue(d.target_json()),
            activation_policy: &d.activation_policy,
            delivery_mode: &d.delivery_mode,
            status: &d.status,
            created_at: d.created_at,
            cancelled_at: d.cancelled_at,
            targeted: r.targeted,
            synced: r.synced,
            active: r.active,
            failed: r.failed,
            rollout: ObjectValue(r.to_json()),
        }
    }
}

/// The 404 for a deployment the key's org does not have.
pub fn deployment_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no deployment {} in this key's org", quoted(id)))
}

/// The answer for each refusal of a deployment operation.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoModel { .. } | Refusal::NoVersion { .. } => {
                ApiError::NotFound(refusal.to_string())
            }
            Refusal::NotFound { id } => deployment_not_found(&id),
            Refusal::AlreadyCancelled { id } => {
                ApiError::Conflict(format!("deployment {id} is cancelled already"))
            }
            Refusal::Store(err) => err.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::deployments::View;

    /// `devreg deployment show --json` prints the store's view: the API's body, member
    /// for member.
    #[test]
    fn the_command_lines_view_is_the_apis_body() {
        let deployment = Deployment {
            id: "01a21480-0b1c-7d41-8f4a-3c2e9f0d7a11".to_owned(),
            org_id: "org_demo".to_owned(),
            model_id: "kbd".to_owned(),
            version: "1.0.0".to_owned(),
            target_devices: json!(["laptop-001"]),
            target_platforms: json!([]),
            target_labels: json!({"ring": "beta"}),
            activation_policy: "immediate".to_owned(),
            delivery_mode: "managed".to_owned(),
            status: "cancelled".to_owned(),
            created_at: Timestamp(1_700_000_000),
            cancelled_at: Some(Timestamp(1_700_000_600)),
        };
        let rollout = Rollout {
            targeted: 4,
            synced: 3,
            active: 2,
            failed: 1,
        };
        assert_eq!(
            serde_json::to_value(View::of(&deployment, rollout)).unwrap(),
            serde_json::to_value(DeploymentBody::of(&deployment, rollout)).unwrap()
        );
    }
}
