//! `POST /api/v1/models/{model_id}/versions/{version}/resolve`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::routes::signed::point_home;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "resolving a model version",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// What the device is (the iOS SDK's `ModelResolveRequest`). devreg keeps one format per
/// version, so these are read for their types only. Unknown fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"platform": "ios", "model": "iPhone15,2", "manufacturer": "Apple",
    "cpu_architecture": "arm64", "os_version": "17.4", "total_memory_mb": 6144,
    "gpu_available": true, "npu_available": true, "supported_runtimes": ["coreml"],
    "compute_units": "all"})))]
#[allow(dead_code)]
struct ResolveRequest {
    platform: Option<String>,
    model: Option<String>,
    manufacturer: Option<String>,
    cpu_architecture: Option<String>,
    os_version: Option<String>,
    total_memory_mb: Option<i64>,
    gpu_available: Option<bool>,
    npu_available: Option<bool>,
    supported_runtimes: Option<Vec<String>>,
    compute_units: Option<String>,
}

/// The version to download and where.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"model_id": "kbd-next-word", "version": "1.0.0", "format": "onnx",
    "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
    "available_formats": ["onnx"], "quantization": null, "executor": null,
    "checksum": "abababababababababababababababababababababababababababababababab",
    "size_bytes": 4096, "source": "deployment",
    "deployment_id": "0193a7d2-4c1e-7f3b-9d2a-4c5e6f708192"})))]
#[schema(as = VersionResolveAnswer)]
struct ResolveAnswer<'a> {
    model_id: &'a str,
    version: &'a str,
    format: &'a str,
    download_url: &'a str,
    /// The version's one format.
    available_formats: [&'a str; 1],
    quantization: Option<&'a str>,
    executor: Option<&'a str>,
    checksum: &'a str,
    size_bytes: i64,
    /// `deployment` when `latest` resolved to the calling device's deployed version,
    /// `latest` when to the newest, `requested` when the path named the version.
    source: &'a str,
    deployment_id: Option<&'a str>,
}

/// Resolve a model version for a device
///
/// Where the calling device downloads a version of a model of the key's org (named by its
/// id or its name), and in which format. `latest` is, for a device's own key, the version
/// the newest active deployment targeting the device names, else the newest version.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("model_id" = String, Path, min_length = 1, description = "The model's id, or its name."),
        ("version" = String, Path, min_length = 1, description = "The version, or `latest`."),
    ),
    request_body(content = ResolveRequest, description = "What the device is (optional)."),
    responses(
        (status = 200, description = "The version to download.", body = ResolveAnswer),
        (status = 404, description = "No such model in the key's org, or no such version."),
        (status = 409, description = "The name is several models' and none's id."),
    ),
)]
pub async fn resolve_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let _request: ResolveRequest = parse_json_object(&body)?.unwrap_or_default();
    let org = credential.org_id.clone();
    let dev = credential.own_device().map(str::to_owned);
    let (model, version) = path.into_inner();
    let mut resolved = state
        .db
        .read(move |c| registry::resolve_version(c, org.as_str(), dev.as_deref(), &model, &version))
        .await?;
    point_home(
        &req,
        &state,
        credential.org_id.as_str(),
        &mut resolved.delivery,
    );
    let v = &resolved.delivery.version;
    Ok(HttpResponse::Ok().json(ResolveAnswer {
        model_id: &v.model_id,
        version: &v.version,
        format: &v.format,
        download_url: &resolved.delivery.download_url,
        available_formats: [&v.format],
        quantization: None,
        executor: None,
        checksum: &v.sha256,
        size_bytes: v.total_bytes,
        source: resolved.source,
        deployment_id: resolved.deployment.as_ref().map(|(id, _)| id.as_str()),
    }))
}
