//! `GET /api/v2/runtime/defaults`

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ANY_KEY, CAPABILITIES, PLAN_TTL_SECONDS, POLICIES};
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;

pub const ACCESS: Access = Access {
    action: "reading the runtime defaults",
    allows: ANY_KEY,
    target: Target::Org,
};

/// iOS's `RuntimeDefaultsResponse` (Runtime/Planner/RuntimePlannerClient.swift:178-198)
/// requires all four; Python and Node return the object as it is.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "default_engines": {"chat": ["llama.cpp", "mlx-lm", "onnxruntime"]},
    "supported_capabilities": ["chat", "embeddings"],
    "supported_policies": ["local_first", "local_only", "private"],
    "plan_ttl_seconds": 86400
})))]
struct Defaults {
    /// Per capability, the engines devreg plans with, preferred first.
    default_engines: BTreeMap<&'static str, Vec<&'static str>>,
    supported_capabilities: Vec<&'static str>,
    /// The policies a plan request may name.
    supported_policies: Vec<&'static str>,
    plan_ttl_seconds: i64,
}

/// Read the runtime planner's defaults
///
/// The engines devreg plans with per capability, the capabilities and routing policies
/// it answers plans for, and how long a plan may be kept. The same for every org.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "runtime planner",
    responses((status = 200, description = "The defaults.", body = Defaults)),
)]
pub async fn get_runtime_defaults(caller: Caller) -> Result<HttpResponse, ApiError> {
    ACCESS.require(caller)?;
    let text = &[
        "llama.cpp",
        "mlx-lm",
        "onnxruntime",
        "coreml",
        "executorch",
        "tflite",
    ];
    let default_engines = CAPABILITIES
        .iter()
        .map(|&capability| {
            let engines: &[&str] = match capability {
                "embeddings" => &["onnxruntime", "llama.cpp", "coreml"],
                "transcription" | "audio" => &["whisper.cpp", "sherpa-onnx", "coreml"],
                "tts" => &["sherpa-onnx"],
                _ => text,
            };
            (capability, engines.to_vec())
        })
        .collect();
    Ok(HttpResponse::Ok().json(Defaults {
        default_engines,
        supported_capabilities: CAPABILITIES.to_vec(),
        supported_policies: POLICIES.to_vec(),
        plan_ttl_seconds: PLAN_TTL_SECONDS,
    }))
}
