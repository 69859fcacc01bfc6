//! `GET /healthz`

use actix_web::HttpResponse;

use super::Health;
use crate::auth::Access;

pub const ACCESS: Access = Access::PUBLIC;

/// Liveness
///
/// 200 while the process serves HTTP. Never rate limited.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Serving.", body = Health,
        example = json!({"status": "ok"}))),
)]
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}
