//! `POST /api/v1/models/{model_id}/versions`

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::VersionBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{DownloadUrl, Sha256Hex, VersionName};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::models;

pub const ACCESS: Access = Access {
    action: "adding a model version",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// One file of an artifact.
#[derive(Debug, Deserialize, serde::Serialize, ToSchema)]
struct ArtifactFile {
    path: String,
    #[serde(deserialize_with = "crate::domain::whole")]
    size: u64,
    sha256: Sha256Hex,
    /// Where devices download this file, when not from the version's `download_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    download_url: Option<DownloadUrl>,
}

/// A version's artifact manifest. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "version": "1.0.0",
    "format": "onnx",
    "total_bytes": 4096,
    "sha256": "abababababababababababababababababababababababababababababababab",
    "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
    "files": [{"path": "model.onnx", "size": 4096,
        "sha256": "abababababababababababababababababababababababababababababababab"}]
})))]
pub(crate) struct NewVersion {
    /// 1–64 characters, no control characters; unique within the model.
    pub version: VersionName,
    /// The artifact's format (`onnx`, `tflite`, `coreml`, `gguf`, ...).
    #[schema(min_length = 1, max_length = 32)]
    pub format: String,
    #[serde(deserialize_with = "crate::domain::whole")]
    pub total_bytes: u64,
    /// The artifact's SHA-256, 64 hex digits.
    pub sha256: Sha256Hex,
    /// Where devices download it: an `http` or `https` URL; devreg does not serve the file.
    pub download_url: DownloadUrl,
    #[serde(default)]
    files: Vec<ArtifactFile>,
}

impl NewVersion {
    /// Checks what serde cannot say, and gives the store's view of it.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.format.is_empty() || self.format.chars().count() > 32 {
            return Err("format must be 1 to 32 characters, such as onnx".to_owned());
        }
        if i64::try_from(self.total_bytes).is_err() {
            return Err("total_bytes is too large".to_owned());
        }
        Ok(())
    }

    /// The store's view of it, as a version of model `model_id` with `files_json`
    /// ([`NewVersion::files_json`]).
    fn manifest<'a>(&'a self, model_id: &'a str, files_json: &'a str) -> models::NewVersion<'a> {
        models::NewVersion {
            model_id,
            version: self.version.as_str(),
            format: &self.format,
            total_bytes: self.total_bytes as i64,
            sha256: self.sha256.as_str(),
            download_url: self.download_url.as_str(),
            files_json,
        }
    }

    pub(crate) fn files_json(&self) -> String {
        serde_json::to_value(&self.files)
            .unwrap_or(Value::Array(Vec::new()))
            .to_string()
    }
}

/// Add a model version
///
/// Adds a version's artifact manifest (where it is, its size and digest) to a model of
/// the key's org; devreg stores the manifest, not the file. An unknown model is a 404; a
/// version the model has already is a 409.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "models",
    params(("model_id" = String, Path, min_length = 1, description = "The model's id.")),
    request_body(content = NewVersion, description = "The manifest."),
    responses(
        (status = 201, description = "Added.", body = VersionBody),
        (status = 404, description = "The org has no such model."),
        (status = 409, description = "The model has that version already."),
    ),
)]
pub async fn add_version(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    // The Python SDK registry's `create_version` names its file by `storage_path` (issue 26).
    if let Some(sdk) = super::sdk_version::SdkVersion::sent_in(&body)? {
        return sdk.add(&state, credential, path.into_inner()).await;
    }
    let request: NewVersion = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest(
            "the body must be a manifest: version, format, total_bytes, sha256, download_url"
                .to_owned(),
        )
    })?;
    request.check().map_err(ApiError::BadRequest)?;
    let model_id = path.into_inner();
    let org_id = credential.org_id.clone();
    let now = state.clock.now();
    let files = request.files_json();
    let version = state
        .db
        .write(move |tx| {
            models::add_version(
                tx,
                org_id.as_str(),
                &request.manifest(&model_id, &files),
                now,
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(VersionBody::of(&version)))
}
