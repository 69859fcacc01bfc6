//! `GET /openapi.json`

use actix_web::{HttpResponse, web};

use crate::auth::Access;
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
pub async fn get_openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json)
}
