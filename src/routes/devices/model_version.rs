//! `GET /api/v1/devices/{device_id}/models/{model_id}/version`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "resolving a device's model version",
    allows: &[Allow::Secret, Allow::Device],
    target: Target::PathDevice,
};

/// The version a device should run.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"model_id": "kbd-next-word", "version": "1.0.0",
    "source": "deployment", "deployment_id": "0193a7d2-4c1e-7f3b-9d2a-4c5e6f708192",
    "experiment_id": null, "rollout_id": null, "device_bucket": null,
    "format": "onnx", "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
    "checksum": "abababababababababababababababababababababababababababababababab",
    "size_bytes": 4096})))]
struct DeviceVersion<'a> {
    model_id: &'a str,
    version: &'a str,
    /// `deployment` (the newest active deployment targeting the device names it) or
    /// `latest` (no deployment targets it: the newest version).
    source: &'a str,
    deployment_id: Option<&'a str>,
    /// devreg runs no experiments: always null.
    experiment_id: Option<&'a str>,
    /// The SDKs' integer rollout id: devreg's deployments have UUIDs
    /// (`deployment_id`), so always null.
    rollout_id: Option<i64>,
    /// devreg assigns no percentage buckets: always null.
    device_bucket: Option<i64>,
    format: &'a str,
    download_url: &'a str,
    checksum: &'a str,
    size_bytes: i64,
}

/// Resolve the version a device should run
///
/// The version of a model of the device's org (named by its id or its name) the device
/// should run: the version of the newest active deployment whose target matches it (as
/// its desired state says), else the model's newest version.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("device_id" = String, Path, min_length = 1,
            description = "The device's UUID `id` or its identifier."),
        ("model_id" = String, Path, min_length = 1, description = "The model's id, or its name."),
    ),
    responses(
        (status = 200, description = "The version.", body = DeviceVersion),
        (status = 404, description = "No such device or model in the key's org, or the model \
            has no version."),
        (status = 409, description = "The name is several models' and none's id."),
    ),
)]
pub async fn get_device_model_version(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (device, reference) = path.into_inner();
    let acting = ACCESS.acting(caller, Some(device))?;
    let resolved = state
        .db
        .read(move |conn| registry::resolve_for_device(conn, &acting, &reference))
        .await?;
    let v = &resolved.delivery.version;
    Ok(HttpResponse::Ok().json(DeviceVersion {
        model_id: &v.model_id,
        version: &v.version,
        source: resolved.source,
        deployment_id: resolved.deployment.as_ref().map(|(id, _)| id.as_str()),
        experiment_id: None,
        rollout_id: None,
        device_bucket: None,
        format: &v.format,
        download_url: &resolved.delivery.download_url,
        checksum: &v.sha256,
        size_bytes: v.total_bytes,
    }))
}
