//! `POST /api/v2/runtime/plan`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ANY_KEY, PLAN_TTL_SECONDS, canonical_engine, engines_for};
use crate::auth::{Access, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::runtime::{self, EngineScore, PlanInputs, PlannedVersion};

pub const ACCESS: Access = Access {
    action: "planning a runtime",
    allows: ANY_KEY,
    target: Target::Org,
};

/// What the SDKs send (python runtime/planner/client.py:167-196, iOS
/// RuntimePlannerClient.swift:80-105, node planner/types.ts:106-117).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "model": "kbd-next-word", "capability": "chat", "routing_policy": "local_first",
    "device": {"sdk": "python", "sdk_version": "4.17.42", "platform": "linux",
        "arch": "x86_64", "ram_total_bytes": 17179869184_i64,
        "installed_runtimes": [{"engine": "onnxruntime", "version": "1.20.0", "available": true}]}
})))]
struct PlanRequest {
    /// The model id, as the org's registry names it.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    model: String,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    capability: String,
    /// Default `local_first`; echoed as the plan's `policy`.
    #[schema(pattern = "^(local_first|local_only|private|cloud_first|cloud_only)$")]
    routing_policy: Option<String>,
    device: DeviceProfile,
}

/// The device's runtime profile (the SDKs' `DeviceRuntimeProfile`).
#[derive(Debug, Deserialize, ToSchema)]
struct DeviceProfile {
    /// `python`, `ios`, `node`, `android` or `browser`.
    #[allow(dead_code)]
    sdk: String,
    /// `linux`, `iOS`, `macOS`, `android`, ...; benchmarks count per platform.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    platform: String,
    ram_total_bytes: Option<i64>,
    installed_runtimes: Option<Vec<InstalledRuntime>>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct InstalledRuntime {
    engine: String,
    /// Default true.
    available: Option<bool>,
}

/// The artifact a candidate runs.
#[derive(Serialize, ToSchema)]
struct ArtifactPlan {
    model_id: String,
    artifact_id: String,
    model_version: String,
    format: String,
    /// Where the version's file is (its `download_url`).
    uri: String,
    /// `sha256:<hex>`.
    digest: String,
    size_bytes: i64,
}

/// One way to run the model. iOS's `RuntimeCandidatePlan`
/// (RuntimePlannerSchemas.swift:279-346) requires locality, priority, confidence, reason.
#[derive(Serialize, ToSchema)]
struct Candidate {
    /// Always `local`: devreg hosts no inference.
    locality: &'static str,
    priority: i64,
    confidence: f64,
    reason: String,
    engine: Option<String>,
    artifact: Option<ArtifactPlan>,
    benchmark_required: bool,
    gates: Vec<String>,
}

/// iOS's `RuntimePlanResponse` (RuntimePlannerSchemas.swift:490-520) requires every
/// member but the two resolutions; Python (client.py:112-138) and Node read the same.
#[derive(Serialize, ToSchema)]
struct Plan {
    model: String,
    capability: String,
    policy: String,
    /// The local candidate; empty when the org has no version of the model.
    candidates: Vec<Candidate>,
    /// Always empty: there is no cloud to fall back on.
    fallback_candidates: Vec<Candidate>,
    /// Always false, for the same reason.
    fallback_allowed: bool,
    public_client_allowed: bool,
    plan_ttl_seconds: i64,
    server_generated_at: Timestamp,
}

fn checked(request: &PlanRequest) -> Result<String, ApiError> {
    for (field, value, max) in [
        ("model", request.model.as_str(), 255),
        ("capability", request.capability.as_str(), 64),
        ("device.platform", request.device.platform.as_str(), 64),
    ] {
        let n = value.chars().count();
        if n == 0 || n > max || value.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(format!(
                "{field} must be 1 to {max} characters without control characters, got {}",
                quoted(value)
            )));
        }
    }
    let policy = request.routing_policy.as_deref().unwrap_or("local_first");
    if !super::POLICIES.contains(&policy) {
        return Err(ApiError::BadRequest(format!(
            "routing_policy must be one of {}, got {}",
            super::POLICIES.join(", "),
            quoted(policy)
        )));
    }
    Ok(policy.to_owned())
}

/// The engine to run `version` with, and why: the fastest engine devices of this
/// platform reported for the model that the format allows and the device has; else
/// the format's first engine the device has; else the format's first engine.
fn choose(version: &PlannedVersion, device: &DeviceProfile, scores: &[EngineScore]) -> Candidate {
    let installed: Vec<String> = device
        .installed_runtimes
        .iter()
        .flatten()
        .filter(|r| r.available.unwrap_or(true))
        .map(|r| canonical_engine(&r.engine))
        .collect();
    let allowed = engines_for(&version.format);
    let usable = |engine: &str| {
        (allowed.is_empty() || allowed.contains(&engine))
            && (installed.is_empty() || installed.iter().any(|i| i == engine))
    };
    let (engine, confidence, reason) = if let Some(best) = scores.iter().find(|s| usable(&s.engine))
    {
        let reason = format!(
            "fastest of {} benchmark report(s) on {}: {:.1} tokens/s",
            best.reports, device.platform, best.tokens_per_second
        );
        (Some(best.engine.clone()), 0.9, reason)
    } else if let Some(engine) = allowed.iter().find(|e| installed.iter().any(|i| i == *e)) {
        let reason = format!("{} runs {} and the device has it", engine, version.format);
        (Some((*engine).to_owned()), 0.7, reason)
    } else if let Some(engine) = allowed.first() {
        let reason = format!(
            "{} runs {}; the device reported no such runtime",
            engine, version.format
        );
        (Some((*engine).to_owned()), 0.4, reason)
    } else {
        let reason = format!(
            "no engine known for format {}; the SDK chooses",
            version.format
        );
        (None, 0.3, reason)
    };
    let fits = device
        .ram_total_bytes
        .is_none_or(|ram| ram >= version.total_bytes);
    Candidate {
        locality: "local",
        priority: 0,
        confidence: if fits { confidence } else { confidence / 2.0 },
        reason: if fits {
            reason
        } else {
            format!("{reason}; the model may not fit in memory")
        },
        engine,
        artifact: Some(ArtifactPlan {
            model_id: version.model_id.clone(),
            artifact_id: version.artifact_id.clone(),
            model_version: version.version.clone(),
            format: version.format.clone(),
            uri: version.download_url.clone(),
            digest: format!("sha256:{}", version.sha256),
            size_bytes: version.total_bytes,
        }),
        benchmark_required: false,
        gates: Vec::new(),
    }
}

/// Plan a model's runtime
///
/// A local-first, static plan: the model's newest version in the org's registry, run on
/// the device by the engine its format needs, preferring the engine devices of the same
/// platform benchmarked fastest (`POST /api/v2/runtime/benchmarks`) and one the device
/// reports in `installed_runtimes`. devreg hosts no inference, so there is no cloud
/// candidate and `fallback_allowed` is false; a model the org has no version of gets no
/// candidate, and the SDK resolves it locally as it would offline.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "runtime planner",
    request_body(content = PlanRequest, description = "The model and the device."),
    responses((status = 200, description = "The plan.", body = Plan)),
)]
pub async fn plan_runtime(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: PlanRequest = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest("the request body must name model, capability and device".to_owned())
    })?;
    let policy = checked(&request)?;
    let (org, model) = (credential.org_id.clone(), request.model.clone());
    let platform = request.device.platform.to_lowercase();
    let PlanInputs { version, scores } = state
        .db
        .read(move |conn| runtime::plan_inputs(conn, org.as_str(), &model, &platform))
        .await?;
    let candidates = version
        .map(|v| vec![choose(&v, &request.device, &scores)])
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(Plan {
        model: request.model,
        capability: request.capability,
        policy,
        candidates,
        fallback_candidates: Vec::new(),
        fallback_allowed: false,
        public_client_allowed: false,
        plan_ttl_seconds: PLAN_TTL_SECONDS,
        server_generated_at: state.clock.now(),
    }))
}
