//! `GET /api/v2/runtime/benchmarks`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{RawObject, Timestamp};
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::AppState;
use crate::store::runtime;

pub const ACCESS: Access = Access {
    action: "listing runtime benchmarks",
    allows: &[Allow::Secret],
    target: Target::Org,
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this model's reports.
    #[param(required = false)]
    model: Option<String>,
    #[param(schema_with = crate::schema::limit_schema, required = false)]
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct StoredReport<'a> {
    id: &'a str,
    /// The reporting device, when a device credential sent it.
    device_id: Option<&'a str>,
    received_at: Timestamp,
    model: &'a str,
    capability: &'a str,
    engine: &'a str,
    platform: &'a str,
    success: bool,
    tokens_per_second: Option<f64>,
    ttft_ms: Option<f64>,
    peak_memory_bytes: Option<i64>,
    /// The report as sent.
    report: RawObject<'a>,
}

#[derive(Serialize, ToSchema)]
struct Reports<'a> {
    benchmarks: Vec<StoredReport<'a>>,
}

/// List runtime benchmarks
///
/// The org's newest benchmark reports first, of one model with `model=`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "runtime planner",
    params(ListQuery),
    responses((status = 200, description = "The reports.", body = Reports)),
)]
pub async fn list_benchmarks(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let query: ListQuery = parse_query(&req)?;
    let limit = match query.limit.as_deref() {
        None => 100,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "limit must be an integer from 1 to 1000, got {text:?}"
                ))
            })?,
    };
    let org = credential.org_id.clone();
    let stored = state
        .db
        .read(move |conn| {
            runtime::list_benchmarks(conn, org.as_str(), query.model.as_deref(), limit)
        })
        .await?;
    let bodies: Vec<Box<RawValue>> = stored
        .iter()
        .map(|s| RawValue::from_string(s.benchmark.body.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::Internal(format!("a stored benchmark is not JSON: {e}")))?;
    let benchmarks = stored
        .iter()
        .zip(&bodies)
        .map(|(s, body)| StoredReport {
            id: &s.id,
            device_id: s.device_id.as_deref(),
            received_at: s.received_at,
            model: &s.benchmark.model,
            capability: &s.benchmark.capability,
            engine: &s.benchmark.engine,
            platform: &s.benchmark.platform,
            success: s.benchmark.success,
            tokens_per_second: s.benchmark.tokens_per_second,
            ttft_ms: s.benchmark.ttft_ms,
            peak_memory_bytes: s.benchmark.peak_memory_bytes,
            report: RawObject(body),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Reports { benchmarks }))
}
