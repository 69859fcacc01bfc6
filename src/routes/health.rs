//! Liveness for load balancers and fly.io's checks.

use actix_web::HttpResponse;

/// `GET /healthz`: the process is up and serving HTTP.
pub async fn get_health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}
