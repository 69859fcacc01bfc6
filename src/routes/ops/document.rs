//! `GET /openapi.json`

use actix_web::{HttpResponse, web};

use crate::auth::Access;
use crate::error::ApiError;
use crate::state::AppState;

pub const ACCESS: Access = Access::PUBLIC;

/// This OpenAPI document
///
/// The OpenAPI 3.1 document of this server, the same that `devreg openapi` prints (with
/// `--ephemeral` for an ephemeral server's, which adds the test-control routes).
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI document.", content_type = "application/json",
            body = Object),
    ),
)]
pub async fn get_openapi(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // Built once per process, off the async threads when this request is the first.
    let json = web::block(state.openapi_json)
        .await
        .map_err(|e| ApiError::Internal(format!("building the OpenAPI document: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
}
