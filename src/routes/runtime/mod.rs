//! The SDKs' runtime planner (`/api/v2/runtime/plan`, `/defaults`, `/benchmarks`: Python,
//! iOS, Node) and the query-routing policy (`/api/v1/route/policy`: Python, iOS, Node).
//! devreg hosts no inference, so what it plans is local: the engine that runs the
//! model's newest version on the device, from the version's format, the runtimes the
//! device says it has, and the benchmarks devices reported.

pub mod benchmark_list;
pub mod benchmark_submit;
pub mod defaults;
pub mod plan;
pub mod route_policy;

use crate::auth::Allow;

/// Any key of the org: the planner's calls carry whatever key the app was given.
pub const ANY_KEY: &[Allow] = &[Allow::Secret, Allow::Publishable, Allow::Device];

/// How long an SDK may keep a plan or the defaults.
pub const PLAN_TTL_SECONDS: i64 = 86_400;

/// The capabilities the planner answers for (the SDKs' `PlannerCapability`).
pub const CAPABILITIES: &[&str] = &[
    "chat",
    "responses",
    "embeddings",
    "transcription",
    "audio",
    "tts",
];

/// The routing policies the SDKs send (python runtime/planner/planner.py:137-138).
pub const POLICIES: &[&str] = &[
    "local_first",
    "local_only",
    "private",
    "cloud_first",
    "cloud_only",
];

/// Engines that run a model format, in the order devreg prefers them; names as the SDKs
/// canonicalise them (`mlx-lm`, `llama.cpp`, python runtime/planner/planner.py:33-44).
pub fn engines_for(format: &str) -> &'static [&'static str] {
    match format.to_ascii_lowercase().as_str() {
        "gguf" | "ggml" => &["llama.cpp"],
        "onnx" | "ort" => &["onnxruntime", "sherpa-onnx"],
        "mlx" | "safetensors" => &["mlx-lm"],
        "coreml" | "mlmodel" | "mlpackage" | "mlmodelc" => &["coreml"],
        "tflite" | "litert" => &["tflite"],
        "pte" | "executorch" => &["executorch"],
        "whisper" | "ggml-whisper" => &["whisper.cpp"],
        _ => &[],
    }
}

/// An engine's name as the SDKs canonicalise it.
pub fn canonical_engine(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "mlx" | "mlx_lm" => "mlx-lm".to_owned(),
        "llamacpp" | "llama_cpp" => "llama.cpp".to_owned(),
        "whisper" | "whispercpp" | "whisper_cpp" => "whisper.cpp".to_owned(),
        "sherpa" | "sherpa_onnx" | "sherpaonnx" => "sherpa-onnx".to_owned(),
        "ort" | "onnx" => "onnxruntime".to_owned(),
        _ => lower,
    }
}
