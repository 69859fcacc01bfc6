//! Health, readiness and metrics, for load balancers, fly.io's checks and Prometheus.
//! None of them needs a key, and none of them says anything about a particular device.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::domain::now;
use crate::error::{ApiError, ErrorBody};
use crate::metrics::DatabaseFigures;
use crate::store::devices;

/// What `/readyz` answers when all is well.
#[derive(Serialize, ToSchema)]
struct Health {
    /// `ready`.
    #[schema(value_type = String, pattern = "^ready$")]
    status: &'static str,
}

/// What `/healthz` answers: alive, and which devreg this is.
#[derive(Serialize, ToSchema)]
struct Liveness {
    /// Always `ok`.
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
    /// The devreg version serving, as `devreg --version` prints it.
    #[schema(example = "0.1.0")]
    version: &'static str,
}

/// `GET /healthz`: the process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    description = "200 while the process serves HTTP, with the devreg version. Never rate \
        limited; no key needed.",
    responses((status = 200, description = "Serving.", body = Liveness,
        example = json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))),
    security(()),
    extensions(("x-credential-kinds" = json!([]))),
)]
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(Liveness {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// `GET /readyz`: the database commits a write transaction.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    description = "200 when the database commits a write transaction, else 503. Never rate \
        limited; no key needed.",
    responses(
        (status = 200, description = "Ready.", body = Health,
            example = json!({"status": "ready"})),
        (status = 503, description = "The database cannot commit a write.", body = ErrorBody),
    ),
    security(()),
    extensions(("x-credential-kinds" = json!([]))),
)]
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
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Request counts and latencies by route pattern, heartbeats, registrations, \
        rate-limited requests, database errors and the number of devices, in Prometheus text \
        format 0.0.4. Never rate limited; no key needed.",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain", body = String,
            example = "# TYPE devreg_devices gauge\ndevreg_devices 1\n"),
        (status = 503, description = "The database is busy; retry later.", body = ErrorBody),
    ),
    security(()),
    extensions(("x-credential-kinds" = json!([]))),
)]
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
