//! `GET /healthz`

use actix_web::HttpResponse;

use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Access;

pub const ACCESS: Access = Access::PUBLIC;

/// What `/healthz` answers: alive, and which devreg this is.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"status": "ok", "version": "0.1.0"})))]
struct Liveness {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    status: &'static str,
    /// The devreg version serving, as `devreg --version` prints it.
    #[schema(examples("0.1.0"))]
    version: &'static str,
}

/// Liveness
///
/// 200 while the process serves HTTP, with the devreg version. Never rate limited.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "operations",
    responses((status = 200, description = "Serving.", body = Liveness)),
)]
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(Liveness {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}
