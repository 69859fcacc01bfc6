//! Health, readiness and metrics, for load balancers, fly.io's checks and Prometheus.
//! None of them needs a key, and none of them says anything about a particular device.

use actix_web::{HttpResponse, web};

use crate::app::AppState;
use crate::domain::now;
use crate::error::ApiError;
use crate::metrics::DatabaseFigures;
use crate::store::devices;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database commits a write transaction.
pub async fn get_readiness(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = now();
    state
        .db
        .write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO readiness (id, checked_at) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
            )?
            .execute([now.0])?;
            Ok(())
        })
        .await
        .map_err(|e| {
            log::warn!("readiness check failed: {e}");
            ApiError::ServiceUnavailable(
                "the database cannot commit a write; see the server log".to_owned(),
            )
        })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
}

/// `GET /metrics`: Prometheus text format.
pub async fn get_metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let devices = state.db.read(devices::count_all).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(DatabaseFigures {
            errors: state.db.error_count(),
            commits: state.db.commit_count(),
            devices,
        })))
}
