//! `GET /api/v1/route/policy`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::ANY_KEY;
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;

pub const ACCESS: Access = Access {
    action: "reading the query-routing policy",
    allows: ANY_KEY,
    target: Target::Org,
};

/// The policy's version; its `ETag` changes with it.
const VERSION: i64 = 1;
const ETAG: &str = "\"route-policy-v1\"";

/// The scoring thresholds an SDK's query router uses to pick a fast or a quality local
/// model for a query.
#[derive(Serialize, ToSchema)]
struct Thresholds {
    fast_max_words: i64,
    quality_min_words: i64,
    length_weight: f64,
    indicator_weight: f64,
    fast_threshold: f64,
    quality_threshold: f64,
    indicator_normalizor: f64,
}

/// iOS's `RoutingPolicy` (Client/QueryRoutingClient.swift:6-73) requires every member,
/// `fetched_at` and `etag` included; Python (routing.py:143-160) and Node
/// (query-routing.ts:202-230) read the same names.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "version": 1,
    "thresholds": {"fast_max_words": 10, "quality_min_words": 50, "length_weight": 0.5,
        "indicator_weight": 0.5, "fast_threshold": 0.3, "quality_threshold": 0.7,
        "indicator_normalizor": 3.0},
    "complex_indicators": [], "deterministic_enabled": true, "ttl_seconds": 3600,
    "fetched_at": 1795640253, "etag": "\"route-policy-v1\""
})))]
struct RoutingPolicy {
    version: i64,
    thresholds: Thresholds,
    complex_indicators: Vec<String>,
    deterministic_enabled: bool,
    ttl_seconds: i64,
    /// When this answer was made, Unix seconds.
    fetched_at: i64,
    /// Also the `ETag` header.
    etag: &'static str,
}

/// Read the query-routing policy
///
/// The thresholds the SDKs' query routers score a prompt with to choose between local
/// models: the SDKs' own defaults (python routing.py:143-160), the same for every org,
/// since devreg hosts no model tiers of its own. `ETag` and `Cache-Control: max-age`
/// let an SDK keep it for `ttl_seconds`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "runtime planner",
    responses((status = 200, description = "The policy.", body = RoutingPolicy)),
)]
pub async fn get_route_policy(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    ACCESS.require(caller)?;
    let ttl_seconds = 3600;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, ETAG))
        .insert_header((header::CACHE_CONTROL, format!("max-age={ttl_seconds}")))
        .json(RoutingPolicy {
            version: VERSION,
            thresholds: Thresholds {
                fast_max_words: 10,
                quality_min_words: 50,
                length_weight: 0.5,
                indicator_weight: 0.5,
                fast_threshold: 0.3,
                quality_threshold: 0.7,
                indicator_normalizor: 3.0,
            },
            complex_indicators: Vec::new(),
            deterministic_enabled: true,
            ttl_seconds,
            fetched_at: state.clock.now().0,
            etag: ETAG,
        }))
}
