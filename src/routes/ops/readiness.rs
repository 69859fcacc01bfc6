//! `GET /readyz`

use actix_web::{HttpResponse, web};

use super::Health;
use crate::auth::Access;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;

pub const ACCESS: Access = Access::PUBLIC;

/// Readiness
///
/// 200 when the database commits a write transaction, else 503. Never rate limited.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready.", body = Health,
            example = json!({"status": "ready"})),
        (status = 503, description = "The database cannot commit a write."),
    ),
)]
pub async fn get_readiness(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    state
        .db
        .write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO readiness (id, checked_at) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
            )?
            .execute([now])?;
            Ok(())
        })
        .await
        .map_err(|e: StoreError| ApiError::ServiceUnavailable {
            message: "the database cannot commit a write; see the server log".to_owned(),
            cause: Some(format!("readiness check failed: {e}")),
        })?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
