//! The answers of the registry's reads: a model and a version as the SDKs read them, one
//! superset shape for all of them (each SDK ignores the members it does not know).

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{ObjectValue, RawObjectList, Timestamp};
use crate::store::models::ModelVersion;
use crate::store::registry::{Delivery, ModelSummary};

/// A model as the registry answers it. devreg keeps no framework or use case: `framework`
/// is the newest version's format, `use_case` is empty.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "kbd-next-word",
    "model_id": "kbd-next-word",
    "org_id": "org_demo",
    "name": "Keyboard next word",
    "framework": "onnx",
    "use_case": "",
    "description": null,
    "version_count": 2,
    "created_at": "2026-11-25T20:57:33Z",
    "updated_at": "2026-11-26T09:12:00Z"
})))]
pub struct ModelInfo<'a> {
    /// The model's id (as `model_id`): what the SDKs read as `id`.
    id: &'a str,
    model_id: &'a str,
    org_id: &'a str,
    /// Its name, or its id when it was added without one.
    name: &'a str,
    framework: &'a str,
    use_case: &'a str,
    description: Option<&'a str>,
    version_count: i64,
    created_at: Timestamp,
    /// When its newest version was added (its `created_at` without versions).
    updated_at: Timestamp,
}

impl<'a> ModelInfo<'a> {
    pub fn of(org_id: &'a str, m: &'a ModelSummary) -> ModelInfo<'a> {
        ModelInfo {
            id: &m.model_id,
            model_id: &m.model_id,
            org_id,
            name: m.name.as_deref().unwrap_or(&m.model_id),
            framework: m.latest_format.as_deref().unwrap_or(""),
            use_case: "",
            description: None,
            version_count: m.version_count,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A version as the registry answers it: its manifest under devreg's names
/// (`total_bytes`, `sha256`) and the SDKs' (`size_bytes`, `file_size`, `checksum`).
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "model_id": "kbd-next-word",
    "version": "1.0.0",
    "artifact_id": "art_01a2148a6c1e7f3b9d2a4c5e6f708192",
    "format": "onnx",
    "status": "published",
    "total_bytes": 4096,
    "size_bytes": 4096,
    "file_size": 4096,
    "sha256": "abababababababababababababababababababababababababababababababab",
    "checksum": "abababababababababababababababababababababababababababababababab",
    "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
    "files": [{"path": "model.onnx", "size": 4096,
        "sha256": "abababababababababababababababababababababababababababababababab"}],
    "description": null,
    "metrics": null,
    "model_contract": null,
    "created_at": "2026-11-25T20:57:33Z"
})))]
pub struct VersionInfo<'a> {
    model_id: &'a str,
    version: &'a str,
    artifact_id: &'a str,
    format: &'a str,
    /// Always `published`: a version is visible only once it is complete.
    status: &'static str,
    total_bytes: i64,
    size_bytes: i64,
    file_size: i64,
    sha256: &'a str,
    checksum: &'a str,
    download_url: &'a str,
    files: RawObjectList<'a>,
    description: Option<&'a str>,
    /// devreg keeps no metrics or model contract: null.
    metrics: Option<ObjectValue>,
    model_contract: Option<ObjectValue>,
    created_at: Timestamp,
}

impl<'a> VersionInfo<'a> {
    /// `version`, with the download URL the store gave for it.
    pub fn of(version: &'a ModelVersion, download_url: &'a str) -> VersionInfo<'a> {
        VersionInfo {
            model_id: &version.model_id,
            version: &version.version,
            artifact_id: &version.artifact_id,
            format: &version.format,
            status: "published",
            total_bytes: version.total_bytes,
            size_bytes: version.total_bytes,
            file_size: version.total_bytes,
            sha256: &version.sha256,
            checksum: &version.sha256,
            download_url,
            files: RawObjectList(&version.files),
            description: None,
            metrics: None,
            model_contract: None,
            created_at: version.created_at,
        }
    }

    pub fn of_delivery(delivery: &'a Delivery) -> VersionInfo<'a> {
        VersionInfo::of(&delivery.version, &delivery.download_url)
    }
}
