//! `POST /api/v2/runtime/benchmarks`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{ANY_KEY, canonical_engine};
use crate::auth::{Access, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::runtime::{self, Benchmark};

pub const ACCESS: Access = Access {
    action: "reporting a runtime benchmark",
    allows: ANY_KEY,
    target: Target::Org,
};

/// A benchmark report: iOS `RuntimeBenchmarkSubmission.toDictionary`
/// (RuntimePlannerSchemas.swift:780-795), node planner/types.ts:204-216, Python
/// `upload_benchmark` (client.py:225-240). Kept whole; these members are read.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "source": "planner", "model": "kbd-next-word", "capability": "chat",
    "engine": "llama.cpp", "success": true, "tokens_per_second": 41.5, "ttft_ms": 120.0,
    "peak_memory_bytes": 734003200_i64,
    "device": {"sdk": "ios", "sdk_version": "1.4.0", "platform": "iOS", "arch": "arm64"}
})))]
struct BenchmarkReport {
    #[schema(min_length = 1, max_length = 255)]
    model: String,
    /// Default `chat`.
    capability: Option<String>,
    #[schema(min_length = 1, max_length = 64)]
    engine: String,
    success: bool,
    tokens_per_second: Option<f64>,
    ttft_ms: Option<f64>,
    peak_memory_bytes: Option<i64>,
    /// The device profile; its `platform` groups reports (`unknown` without one).
    device: Option<ReportDevice>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct ReportDevice {
    platform: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"id": "01a2147f-daeb-7763-909c-9e315a041b31", "accepted": true,
    "received_at": "2026-11-25T20:57:33Z"})))]
#[schema(as = BenchmarkAccepted)]
struct Accepted {
    id: String,
    accepted: bool,
    received_at: Timestamp,
}

fn parsed(report: BenchmarkReport, body: &[u8]) -> Result<Benchmark, ApiError> {
    for (field, value, max) in [
        ("model", &report.model, 255),
        ("engine", &report.engine, 64),
    ] {
        let n = value.chars().count();
        if n == 0 || n > max || value.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(format!(
                "{field} must be 1 to {max} characters without control characters, got {}",
                quoted(value)
            )));
        }
    }
    if let Some((field, v)) = [
        ("tokens_per_second", report.tokens_per_second),
        ("ttft_ms", report.ttft_ms),
    ]
    .into_iter()
    .find(|(_, v)| v.is_some_and(|v| !v.is_finite() || v < 0.0))
    {
        return Err(ApiError::BadRequest(format!(
            "{field} must be a number of at least 0, got {}",
            v.unwrap_or_default()
        )));
    }
    let platform = report
        .device
        .and_then(|d| d.platform)
        .filter(|p| !p.is_empty() && p.chars().count() <= 64)
        .map_or_else(|| "unknown".to_owned(), |p| p.to_lowercase());
    // Kept as sent, re-encoded compactly.
    let whole: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
    Ok(Benchmark {
        model: report.model,
        capability: report.capability.unwrap_or_else(|| "chat".to_owned()),
        engine: canonical_engine(&report.engine),
        platform,
        success: report.success,
        tokens_per_second: report.tokens_per_second,
        ttft_ms: report.ttft_ms,
        peak_memory_bytes: report.peak_memory_bytes,
        body: Value::Object(whole).to_string(),
    })
}

/// Report a runtime benchmark
///
/// What an SDK measured running a model with an engine on a device (tokens per second,
/// time to first token, peak memory; no prompt or output). Stored per org, newest
/// 10,000 kept, listed by `GET /api/v2/runtime/benchmarks`; plans for the same model and
/// platform then prefer the engine reported fastest. With a device credential the report
/// is that device's.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "runtime planner",
    request_body(content = BenchmarkReport, description = "The report."),
    responses((status = 201, description = "Stored.", body = Accepted)),
)]
pub async fn report_benchmark(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let report: BenchmarkReport = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest("the request body must be a benchmark report".to_owned())
    })?;
    let benchmark = parsed(report, &body)?;
    let now = state.clock.now();
    let stored = state
        .db
        .write(move |tx| runtime::record_benchmark(tx, &credential, &benchmark, now))
        .await?;
    Ok(HttpResponse::Created().json(Accepted {
        id: stored.id,
        accepted: true,
        received_at: stored.received_at,
    }))
}
