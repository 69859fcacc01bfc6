//! `GET /metrics`

use actix_web::{HttpResponse, web};

use crate::auth::Access;
use crate::error::ApiError;
use crate::metrics::DatabaseFigures;
use crate::state::AppState;
use crate::store::devices;

pub const ACCESS: Access = Access::PUBLIC;

/// Prometheus metrics
///
/// Request counts and latencies by route pattern, heartbeats, registrations,
/// rate-limited requests, database errors and the number of devices, in Prometheus text
/// format 0.0.4. Never rate limited.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "operations",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain", body = String,
            example = "# TYPE devreg_devices gauge\ndevreg_devices 1\n"),
    ),
)]
pub async fn get_metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let devices = state.db.read(devices::count_all).await?;
    let artifact_bytes = state.db.read(crate::store::artifacts::stored_bytes).await?;
    state.metrics.set_artifact_bytes_stored(artifact_bytes);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(DatabaseFigures {
            errors: state.db.error_count(),
            commits: state.db.commit_count(),
            devices,
        })))
}
