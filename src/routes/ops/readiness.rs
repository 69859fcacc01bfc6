//! `GET /readyz`

use actix_web::{HttpResponse, web};

use super::Health;
use crate::auth::Access;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{StoreError, readiness};

pub const ACCESS: Access = Access::PUBLIC;

/// Readiness
///
/// 200 when the database commits a write transaction, else 503. The write is a probe run
/// at most once a second; other calls get the last probe's answer. Never rate limited.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = Health,
            example = json!({"status": "ready"})),
        (status = 503, description = "The database cannot commit a write, or its file was \
            deleted or replaced while the server runs."),
    ),
)]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    // Held across the probe, so callers that arrive meanwhile wait for its answer
    // instead of probing too.
    let mut last = state.readiness.lock().await;
    let outcome = match &*last {
        Some((at, outcome)) if now <= *at => outcome.clone(),
        _ => {
            let outcome = probe(&state, now).await;
            *last = Some((now, outcome.clone()));
            outcome
        }
    };
    drop(last);
    match outcome {
        Ok(()) => Ok(HttpResponse::Ok().json(Health { status: "ready" })),
        Err(message) => Err(ApiError::ServiceUnavailable {
            message,
            cause: None,
        }),
    }
}

/// Writes the readiness row; the sentence to answer when that fails (the cause goes to
/// the log).
async fn probe(state: &AppState, now: crate::domain::Timestamp) -> Result<(), String> {
    let written = match state.db.check_file() {
        Err(gone) => Err(gone),
        Ok(()) => state.db.write(move |tx| readiness::probe(tx, now)).await,
    };
    written.map_err(|e: StoreError| {
        log::warn!("readiness probe failed: {e}");
        match e {
            StoreError::Gone(_) => "not ready: the database file was deleted or replaced while \
                                    the server runs, so writes are refused; see the server log"
                .to_owned(),
            _ => "the database cannot commit a write; see the server log".to_owned(),
        }
    })
}
