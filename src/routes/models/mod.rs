//! Models and their versions (artifact manifests): what deployments name. The org's
//! secret key adds them; any key of the org may read them.

pub mod add_version;
pub mod create;
pub mod list;
// issue 26 (registry reads and deletion).
pub mod answers;
pub mod delete;
pub mod delete_version;
pub mod deployments;
pub mod get;
pub mod resolve;
pub mod sdk_version;
pub mod updates;
pub mod version;
pub mod versions;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{RawObjectList, Timestamp};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::store::models::{Model, ModelVersion, Refusal};
use crate::store::registry;

/// A version's artifact manifest.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "model_id": "kbd-next-word",
    "version": "1.0.0",
    "artifact_id": "art_01a2148a6c1e7f3b9d2a4c5e6f708192",
    "format": "onnx",
    "total_bytes": 4096,
    "sha256": "abababababababababababababababababababababababababababababababab",
    "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
    "files": [{"path": "model.onnx", "size": 4096,
        "sha256": "abababababababababababababababababababababababababababababababab"}],
    "created_at": "2026-11-25T20:57:33Z"
})))]
pub struct VersionBody<'a> {
    model_id: &'a str,
    version: &'a str,
    /// The artifact's id, as the SDKs' manifests carry it.
    artifact_id: &'a str,
    format: &'a str,
    total_bytes: i64,
    sha256: &'a str,
    download_url: &'a str,
    files: RawObjectList<'a>,
    created_at: Timestamp,
}

impl<'a> VersionBody<'a> {
    pub fn of(v: &'a ModelVersion) -> VersionBody<'a> {
        VersionBody {
            model_id: &v.model_id,
            version: &v.version,
            artifact_id: &v.artifact_id,
            format: &v.format,
            total_bytes: v.total_bytes,
            sha256: &v.sha256,
            download_url: &v.download_url,
            files: RawObjectList(&v.files),
            created_at: v.created_at,
        }
    }
}

/// A model with its versions, oldest first.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "kbd-next-word",
    "model_id": "kbd-next-word",
    "name": "Keyboard next word",
    "created_at": "2026-11-25T20:57:33Z",
    "versions": []
})))]
pub struct ModelBody<'a> {
    /// The same as `model_id` (what the Python SDK reads).
    id: &'a str,
    model_id: &'a str,
    name: Option<&'a str>,
    created_at: Timestamp,
    versions: Vec<VersionBody<'a>>,
}

impl<'a> ModelBody<'a> {
    pub fn of(m: &'a Model) -> ModelBody<'a> {
        ModelBody {
            id: &m.model_id,
            model_id: &m.model_id,
            name: m.name.as_deref(),
            created_at: m.created_at,
            versions: m.versions.iter().map(VersionBody::of).collect(),
        }
    }
}

/// The answer for each refusal of a model operation.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::ModelExists { org_id, model_id } => ApiError::Conflict(format!(
                "org {org_id} already has a model {}",
                quoted(&model_id)
            )),
            Refusal::NoModel { org_id, model_id } => ApiError::NotFound(format!(
                "no model {} in org {org_id}; add it first with POST /api/v1/models",
                quoted(&model_id)
            )),
            Refusal::VersionExists { model_id, version } => ApiError::Conflict(format!(
                "model {} already has a version {}",
                quoted(&model_id),
                quoted(&version)
            )),
            Refusal::Store(err) => err.into(),
        }
    }
}

/// What a deletion removed.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"deleted": true, "model_id": "kbd-next-word",
    "versions": ["1.0.0"], "deployments": []})))]
pub struct Deletion<'a> {
    deleted: bool,
    model_id: &'a str,
    /// The versions deleted.
    versions: &'a [String],
    /// The cancelled deployments of those versions, deleted with them.
    deployments: &'a [String],
}

impl<'a> Deletion<'a> {
    pub fn of(d: &'a registry::Deleted) -> Deletion<'a> {
        Deletion {
            deleted: true,
            model_id: &d.model_id,
            versions: &d.versions,
            deployments: &d.cancelled_deployments,
        }
    }
}

/// The answer for each refusal of a registry read or deletion.
impl From<registry::Refusal> for ApiError {
    fn from(refusal: registry::Refusal) -> Self {
        match refusal {
            registry::Refusal::NoModel { org_id, reference } => ApiError::NotFound(format!(
                "no model {} in org {org_id}: neither a model id nor a model name",
                quoted(&reference)
            )),
            registry::Refusal::AmbiguousName {
                org_id,
                reference,
                count,
            } => ApiError::Conflict(format!(
                "{} is the name of {count} models of org {org_id}; name the one you mean by \
                 its model_id",
                quoted(&reference)
            )),
            registry::Refusal::NoVersion { model_id, version } => ApiError::NotFound(format!(
                "model {} has no version {}",
                quoted(&model_id),
                quoted(&version)
            )),
            registry::Refusal::NoFormat {
                model_id,
                version,
                have,
                wanted,
            } => ApiError::NotFound(format!(
                "model {} version {} is {}, not {}",
                quoted(&model_id),
                quoted(&version),
                quoted(&have),
                quoted(&wanted)
            )),
            registry::Refusal::UpToDate { model_id, current } => ApiError::NotFound(format!(
                "no update: version {} is the version of model {} to run",
                quoted(&current),
                quoted(&model_id)
            )),
            registry::Refusal::InUse {
                model_id,
                version,
                deployments,
            } => {
                let what = match version {
                    Some(v) => format!("version {} of model {}", quoted(&v), quoted(&model_id)),
                    None => format!("model {}", quoted(&model_id)),
                };
                let (noun, them) = if deployments.len() == 1 {
                    ("deployment", "it")
                } else {
                    ("deployments", "them")
                };
                ApiError::Conflict(format!(
                    "{what} is in use by active {noun} {}; cancel {them} first (POST \
                     /api/v1/deployments/{{deployment_id}}/cancel)",
                    deployments.join(", ")
                ))
            }
            registry::Refusal::NotActing(refusal) => refusal.into(),
            registry::Refusal::Store(err) => err.into(),
        }
    }
}
