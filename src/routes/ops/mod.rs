//! Health, readiness, metrics and the OpenAPI document, for load balancers, fly.io's
//! checks, Prometheus and client generators. None of them reads a key, and none of them
//! says anything about a particular device.

pub mod document;
pub mod health;
pub mod metrics;
pub mod readiness;

use serde::Serialize;
use utoipa::ToSchema;

/// What `/readyz` answers when all is well.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ready`.
    #[schema(pattern = "^ready$")]
    pub status: &'static str,
}
