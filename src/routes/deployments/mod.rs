//! Deployments: a model version for the devices a target matches (ids or identifiers,
//! platforms, labels), its rollout counts, and cancelling it. The org's secret key only.

pub mod cancel;
pub mod create;
pub mod get;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::{ObjectValue, Timestamp};
use crate::store::deployments::{Deployment, Rollout};

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
            target: ObjectValue(json!({
                "devices": d.target_devices,
                "platforms": d.target_platforms,
                "labels": d.target_labels,
            })),
            activation_policy: &d.activation_policy,
            delivery_mode: &d.delivery_mode,
            status: &d.status,
            created_at: d.created_at,
            cancelled_at: d.cancelled_at,
            targeted: r.targeted,
            synced: r.synced,
            active: r.active,
            failed: r.failed,
            rollout: ObjectValue(json!({"targeted": r.targeted, "synced": r.synced,
                "active": r.active, "failed": r.failed})),
        }
    }
}

/// The 404 for a deployment the key's org does not have.
pub fn deployment_not_found(id: &str) -> crate::error::ApiError {
    crate::error::ApiError::NotFound(format!(
        "no deployment {} in this key's org",
        crate::routes::quoted(id)
    ))
}
