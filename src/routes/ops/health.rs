//! `GET /healthz`

use actix_web::{HttpResponse, web};

use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Access;
use crate::state::AppState;

pub const ACCESS: Access = Access::PUBLIC;

/// What `/healthz` answers: alive, and which devreg this is.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"status": "ok", "version": "0.1.0", "ephemeral": false})))]
struct Liveness {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    status: &'static str,
    /// The devreg version serving, as `devreg --version` prints it.
    #[schema(examples("0.1.0"))]
    version: &'static str,
    /// Whether this is an ephemeral server (`serve --ephemeral`, `TestServer`), the only
    /// kind with the test-control routes under `/_devreg/`. The console asks for the test
    /// clock only then.
    ephemeral: bool,
}

/// Liveness
///
/// 200 while the process serves HTTP, with the devreg version and whether the server is
/// ephemeral. Never rate limited.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "operations",
    responses((status = 200, description = "Serving.", body = Liveness)),
)]
pub async fn get_health(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Liveness {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        ephemeral: state.baseline.is_some(),
    })
}
