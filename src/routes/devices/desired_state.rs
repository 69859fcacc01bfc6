//! The endpoints the official SDKs call around register and heartbeat (issue 15): the
//! heartbeat without a path id, iOS's control heartbeat and sync, assignments, the
//! unified sync, desired state (GET and POST) and observed state.
//!
//! One answer serves every SDK: where they read different casings, both are sent (every
//! SDK ignores keys it does not know). What each SDK reads is in docs/api.md, "The SDK
//! device loop", and in the tests of tests/api/sdk_*.rs, which replay each SDK's requests
//! and assert the fields its source reads.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::{Acting, Allow};
use crate::domain::{JsonObject, Timestamp};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::deployments::Deployment;
use crate::store::desired::{self, FetchCommand, Fetched, ObservedModel};
use crate::store::models::ModelVersion;

/// Who may read or report a device's state: the device itself, or the org's secret key.
/// Not the publishable key: it ships inside every copy of an app, and would let any of
/// them read and overwrite every device's state (docs/api.md, "Credentials").
pub const DEVICE_STATE: &[Allow] = &[Allow::Secret, Allow::Device];

/// The contract version the sync answer says it follows (what the SDKs send).
const SYNC_SCHEMA_VERSION: &str = "1.12.0";

/// The desired state `acting` may fetch, recording what `command` says: one read, and a
/// write only when the read found something to record ([`desired::fetch`]).
pub async fn fetch(
    state: &AppState,
    acting: Acting,
    command: FetchCommand,
) -> Result<Fetched, ApiError> {
    let now = state.clock.now();
    let asked = Arc::new((acting, command));
    let read = Arc::clone(&asked);
    let fetched = state
        .db
        .read(move |conn| desired::fetch(conn, &read.0, &read.1, now))
        .await?;
    if let Some(fetched) = fetched {
        return Ok(fetched);
    }
    let fetched = state
        .db
        .write(move |tx| desired::fetch_and_record(tx, &asked.0, &asked.1, now))
        .await?;
    Ok(fetched)
}

/// An artifact manifest in the generated contract's camelCase (iOS, Python, Node, browser).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactManifest {
    artifact_id: String,
    model_id: String,
    version: String,
    format: String,
    total_bytes: i64,
    /// The same as `totalBytes` (the Node and browser types' name).
    size_bytes: i64,
    download_url: String,
    sha256: String,
    files: Vec<JsonObject>,
}

/// The same manifest in snake_case (Android).
#[derive(Serialize, ToSchema)]
pub struct ArtifactManifestSnake {
    artifact_id: String,
    model_id: String,
    version: String,
    format: String,
    total_bytes: i64,
    download_url: String,
    sha256: String,
    files: Vec<JsonObject>,
}

/// One desired model, in both casings.
#[derive(Serialize, ToSchema)]
pub struct DesiredModel {
    #[serde(rename = "modelId")]
    model_id_camel: String,
    model_id: String,
    #[serde(rename = "desiredVersion")]
    desired_version_camel: String,
    desired_version: String,
    /// `managed` unless the deployment said otherwise.
    #[serde(rename = "deliveryMode")]
    delivery_mode_camel: String,
    delivery_mode: String,
    /// `immediate` unless the deployment said otherwise.
    #[serde(rename = "activationPolicy")]
    activation_policy_camel: String,
    activation_policy: String,
    #[serde(rename = "deploymentId")]
    deployment_id_camel: String,
    deployment_id: String,
    /// Always null: iOS requires `allowed` in an engine policy that is present.
    #[serde(rename = "enginePolicy")]
    engine_policy: Option<JsonObject>,
    #[serde(rename = "artifactManifest")]
    artifact_manifest_camel: ArtifactManifest,
    artifact_manifest: ArtifactManifestSnake,
    /// iOS's flat entry (Sync/DesiredStateTypes.swift, `DesiredModelEntry`, which its
    /// `ArtifactReconciler` decodes with every field required): the version, again as the
    /// artifact's version, the artifact, the URL of its (first) file, that file's SHA-256
    /// as lowercase hex and its size in bytes.
    model_version: String,
    artifact_version: String,
    artifact_id: String,
    download_url: String,
    checksum: String,
    file_size: i64,
}

/// Where a device is told to download hosted files (issue 26): devreg's own signed URLs.
pub struct HostedUrls<'a> {
    pub base: &'a str,
    pub state: &'a AppState,
}

impl DesiredModel {
    fn of(
        deployment: &Deployment,
        version: &ModelVersion,
        hosted: &HostedUrls<'_>,
    ) -> DesiredModel {
        let mut files: Vec<JsonObject> =
            serde_json::from_str(version.files.get()).unwrap_or_default();
        let mut download_url = version.download_url.clone();
        // A hosted version (published through devreg, no `download_url` of its own):
        // every file gets devreg's signed URL, the version the first file's.
        if download_url.is_empty() {
            let expires =
                Timestamp(hosted.state.clock.now().0 + crate::routes::artifacts::URL_LIFETIME_SECS);
            for file in &mut files {
                let Some(path) = file.0.get("path").and_then(Value::as_str) else {
                    continue;
                };
                let url = crate::routes::artifacts::device_url(
                    hosted.base,
                    &hosted.state.signing_key,
                    &deployment.org_id,
                    &version.artifact_id,
                    path,
                    expires,
                );
                if download_url.is_empty() {
                    download_url = url.clone();
                }
                file.0
                    .insert("download_url".to_owned(), Value::String(url.clone()));
                file.0.insert("downloadUrl".to_owned(), Value::String(url));
            }
        }
        // iOS's flat entry downloads one URL and checks its digest: the first file's when
        // the version lists its files, else the version's own.
        let first = files.first().map(|f| &f.0);
        let checksum = first
            .and_then(|f| f.get("sha256"))
            .and_then(Value::as_str)
            .map_or_else(|| version.sha256.clone(), str::to_owned);
        let file_size = first
            .and_then(|f| f.get("size_bytes").or_else(|| f.get("sizeBytes")))
            .and_then(Value::as_i64)
            .unwrap_or(version.total_bytes);
        DesiredModel {
            model_version: version.version.clone(),
            artifact_version: version.version.clone(),
            artifact_id: version.artifact_id.clone(),
            download_url: download_url.clone(),
            checksum,
            file_size,
            model_id_camel: deployment.model_id.clone(),
            model_id: deployment.model_id.clone(),
            desired_version_camel: deployment.version.clone(),
            desired_version: deployment.version.clone(),
            delivery_mode_camel: deployment.delivery_mode.clone(),
            delivery_mode: deployment.delivery_mode.clone(),
            activation_policy_camel: deployment.activation_policy.clone(),
            activation_policy: deployment.activation_policy.clone(),
            deployment_id_camel: deployment.id.clone(),
            deployment_id: deployment.id.clone(),
            engine_policy: None,
            artifact_manifest_camel: ArtifactManifest {
                artifact_id: version.artifact_id.clone(),
                model_id: version.model_id.clone(),
                version: version.version.clone(),
                format: version.format.clone(),
                total_bytes: version.total_bytes,
                size_bytes: version.total_bytes,
                download_url: download_url.clone(),
                sha256: version.sha256.clone(),
                files: files.clone(),
            },
            artifact_manifest: ArtifactManifestSnake {
                artifact_id: version.artifact_id.clone(),
                model_id: version.model_id.clone(),
                version: version.version.clone(),
                format: version.format.clone(),
                total_bytes: version.total_bytes,
                download_url,
                sha256: version.sha256.clone(),
                files,
            },
        }
    }
}

/// The desired state, one answer for sync and desired-state (GET and POST) and every SDK.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "schemaVersion": "1.12.0",
    "deviceId": "01a2147f-daeb-7763-909c-9e315a041b31",
    "device_id": "01a2147f-daeb-7763-909c-9e315a041b31",
    "stateChanged": true,
    "desired_state_version": 1,
    "desiredStateVersion": 1,
    "models": [{
        "modelId": "kbd-next-word", "model_id": "kbd-next-word",
        "desiredVersion": "1.0.0", "desired_version": "1.0.0",
        "deliveryMode": "managed", "delivery_mode": "managed",
        "activationPolicy": "immediate", "activation_policy": "immediate",
        "deploymentId": "01a21480-0b1c-7d41-8f4a-3c2e9f0d7a11",
        "deployment_id": "01a21480-0b1c-7d41-8f4a-3c2e9f0d7a11",
        "enginePolicy": null,
        "artifactManifest": {"artifactId": "art_01a2148a6c1e7f3b9d2a4c5e6f708192",
            "modelId": "kbd-next-word", "version": "1.0.0", "format": "onnx",
            "totalBytes": 4096, "sizeBytes": 4096,
            "downloadUrl": "https://cdn.example.com/kbd/1.0.0/model.onnx",
            "sha256": "abababababababababababababababababababababababababababababababab",
            "files": []},
        "artifact_manifest": {"artifact_id": "art_01a2148a6c1e7f3b9d2a4c5e6f708192",
            "model_id": "kbd-next-word", "version": "1.0.0", "format": "onnx",
            "total_bytes": 4096,
            "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
            "sha256": "abababababababababababababababababababababababababababababababab",
            "files": []},
        "model_version": "1.0.0", "artifact_version": "1.0.0",
        "artifact_id": "art_01a2148a6c1e7f3b9d2a4c5e6f708192",
        "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
        "checksum": "abababababababababababababababababababababababababababababababab",
        "file_size": 4096
    }],
    "gcEligibleArtifactIds": [],
    "gc_eligible_artifact_ids": [],
    "nextPollIntervalSeconds": 60,
    "generatedAt": "2026-11-25T20:57:33Z",
    "generated_at": "2026-11-25T20:57:33Z",
    "serverTimestamp": "2026-11-25T20:57:33Z"
})))]
pub struct DesiredStateAnswer {
    #[serde(rename = "schemaVersion")]
    schema_version: &'static str,
    /// The device's server UUID.
    #[serde(rename = "deviceId")]
    device_id_camel: String,
    device_id: String,
    /// False when the request's `knownStateVersion` is the current `desired_state_version`.
    #[serde(rename = "stateChanged")]
    state_changed: bool,
    /// Goes up by one whenever the device's desired models change.
    desired_state_version: i64,
    #[serde(rename = "desiredStateVersion")]
    desired_state_version_camel: i64,
    models: Vec<DesiredModel>,
    /// Always empty: devreg does not tell a device to delete artifacts.
    #[serde(rename = "gcEligibleArtifactIds")]
    gc_eligible_camel: Vec<String>,
    gc_eligible_artifact_ids: Vec<String>,
    /// Whole seconds; the server's heartbeat interval.
    #[serde(rename = "nextPollIntervalSeconds")]
    next_poll_interval_seconds: u32,
    #[serde(rename = "generatedAt")]
    generated_at_camel: Timestamp,
    generated_at: Timestamp,
    #[serde(rename = "serverTimestamp")]
    server_timestamp: Timestamp,
}

impl DesiredStateAnswer {
    /// The answer for `fetched`; `base` is the URL devreg is reached at, for hosted files.
    pub fn new(
        state: &AppState,
        fetched: &Fetched,
        known: Option<&str>,
        base: &str,
    ) -> DesiredStateAnswer {
        let hosted = HostedUrls { base, state };
        let (device, desired) = (&fetched.device, &fetched.desired);
        let now = state.clock.now();
        DesiredStateAnswer {
            schema_version: SYNC_SCHEMA_VERSION,
            device_id_camel: device.id.clone(),
            device_id: device.id.clone(),
            state_changed: known != Some(desired.version.to_string().as_str()),
            desired_state_version: desired.version,
            desired_state_version_camel: desired.version,
            models: desired
                .models
                .iter()
                .map(|(d, v)| DesiredModel::of(d, v, &hosted))
                .collect(),
            gc_eligible_camel: Vec::new(),
            gc_eligible_artifact_ids: Vec::new(),
            next_poll_interval_seconds: state.heartbeat_interval_seconds,
            generated_at_camel: now,
            generated_at: now,
            server_timestamp: now,
        }
    }
}

/// `knownStateVersion` as the SDKs send it: a string (Python, Node, iOS), or a number.
pub fn known_state_version(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body
        .get("knownStateVersion")
        .or_else(|| body.get("known_state_version"))
    {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(ApiError::BadRequest(format!(
            "knownStateVersion must be a string or an integer, got {}",
            crate::domain::json_kind(other)
        ))),
    }
}

/// A text field under either of its names.
fn text<'a>(entry: &'a Map<String, Value>, names: &[&str]) -> Result<Option<&'a str>, String> {
    for name in names {
        match entry.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(Some(s)),
            Some(other) => {
                return Err(format!(
                    "{name} must be a string, got {}",
                    crate::domain::json_kind(other)
                ));
            }
        }
    }
    Ok(None)
}

/// Reads a list of observed models in any SDK's shape: Python's device agent
/// (`modelId, status: "ACTIVE", installedVersion, activeVersion`), Node and the browser
/// (`modelId, status, version`), iOS and Android (`model_id, artifact_version, status`),
/// a sync's inventory (`modelId, version, artifactId, status`). `active` maps a model to
/// its active version from a sync's `activeVersions`. `field` names the list in errors.
pub fn observed_models(
    list: &Value,
    field: &str,
    active: &Map<String, Value>,
) -> Result<Vec<ObservedModel>, ApiError> {
    let Value::Array(items) = list else {
        return Err(ApiError::BadRequest(format!(
            "{field} must be an array of objects, got {}",
            crate::domain::json_kind(list)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let bad = |why: String| ApiError::BadRequest(format!("{field}[{i}]: {why}"));
            let Value::Object(entry) = item else {
                return Err(bad(format!(
                    "each entry must be an object, got {}",
                    crate::domain::json_kind(item)
                )));
            };
            let model_id = text(entry, &["modelId", "model_id"])
                .map_err(bad)?
                .ok_or_else(|| bad("modelId (or model_id) is required".to_owned()))?
                .to_owned();
            let status = text(entry, &["status"])
                .map_err(bad)?
                .unwrap_or("unknown")
                .to_ascii_lowercase();
            let installed = text(
                entry,
                &[
                    "installedVersion",
                    "installed_version",
                    "version",
                    "artifactVersion",
                    "artifact_version",
                ],
            )
            .map_err(bad)?
            .map(str::to_owned);
            let active_version = text(entry, &["activeVersion", "active_version"])
                .map_err(bad)?
                .map(str::to_owned)
                .or_else(|| {
                    active
                        .get(&model_id)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .or_else(|| installed.clone().filter(|_| status == "active"));
            Ok(ObservedModel {
                failed: status.contains("failed"),
                model_id,
                status,
                installed_version: installed,
                active_version,
                entry: item.to_string(),
            })
        })
        .collect()
}

/// A sync's `activeVersions` (`[{modelId|model_id, version}]`) as model → version.
pub fn active_versions(list: Option<&Value>) -> Result<Map<String, Value>, ApiError> {
    let mut active = Map::new();
    let Some(list) = list.filter(|v| !v.is_null()) else {
        return Ok(active);
    };
    let Value::Array(items) = list else {
        return Err(ApiError::BadRequest(format!(
            "activeVersions must be an array of objects, got {}",
            crate::domain::json_kind(list)
        )));
    };
    for (i, item) in items.iter().enumerate() {
        let bad = |why: String| ApiError::BadRequest(format!("activeVersions[{i}]: {why}"));
        let Value::Object(entry) = item else {
            return Err(bad("each entry must be an object".to_owned()));
        };
        let model_id = text(entry, &["modelId", "model_id"])
            .map_err(bad)?
            .ok_or_else(|| bad("modelId (or model_id) is required".to_owned()))?;
        let version = text(entry, &["version", "activeVersion", "active_version"])
            .map_err(bad)?
            .ok_or_else(|| bad(format!("version is required for {}", quoted(model_id))))?;
        active.insert(model_id.to_owned(), Value::from(version));
    }
    Ok(active)
}
