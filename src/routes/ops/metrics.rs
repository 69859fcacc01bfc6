//! `GET /metrics`

use actix_web::{HttpRequest, HttpResponse, http::header, web};

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
/// format 0.0.4. Never rate limited. With the server's `--metrics-token`, only for
/// `Authorization: Bearer` and that token (401 otherwise); without one, a server that is
/// not `--ephemeral` leaves out the fleet's sizes (`devreg_devices`,
/// `devreg_artifact_bytes_stored`).
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "operations",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain", body = String,
            example = "# TYPE devreg_devices gauge\ndevreg_devices 1\n"),
        (status = 401, description = "The server has a `--metrics-token` and the request \
            does not send it."),
    ),
)]
pub async fn get_metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let Some(fleet_sizes) = state.metrics_access.allows(authorization) else {
        return Err(ApiError::Unauthorized(
            "this server's /metrics needs its metrics token (--metrics-token): send \
             Authorization: Bearer TOKEN"
                .to_owned(),
        ));
    };
    let devices = state.db.read(devices::count_all).await?;
    let artifact_bytes = state.db.read(crate::store::artifacts::stored_bytes).await?;
    state.metrics.set_artifact_bytes_stored(artifact_bytes);
    let text = state.metrics.render(DatabaseFigures {
        errors: state.db.error_count(),
        commits: state.db.commit_count(),
        writes: state.db.write_count(),
        devices,
    });
    let text = if fleet_sizes {
        text
    } else {
        crate::metrics::without_fleet_sizes(&text)
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
