//! The Python SDK registry's `create_version` (issue 26): `POST
//! /api/v1/models/{model_id}/versions` with `storage_path, format, checksum, size_bytes`
//! instead of the manifest `add_version` reads.

use actix_web::HttpResponse;
use serde::Deserialize;

use super::VersionBody;
use crate::domain::{Sha256Hex, VersionName};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::artifacts::{self, Publish, PublishedFile};
use crate::store::models;

/// A version as the Python SDK registry's `create_version` sends it: `storage_path` is
/// the `storage_key` of an upload to devreg, or an `http(s)` URL where the file is.
#[derive(Debug, Deserialize)]
pub(crate) struct SdkVersion {
    version: String,
    storage_path: String,
    format: String,
    checksum: Sha256Hex,
    #[serde(deserialize_with = "crate::domain::whole")]
    size_bytes: u64,
}

/// A URL version's parts: model, version, URL, files JSON, size.
type Manifest = (String, VersionName, crate::domain::DownloadUrl, String, i64);

impl SdkVersion {
    /// The store's view of a URL version.
    fn view<'a>(&'a self, m: &'a Manifest) -> models::NewVersion<'a> {
        models::NewVersion {
            model_id: &m.0,
            version: m.1.as_str(),
            format: &self.format,
            total_bytes: m.4,
            sha256: self.checksum.as_str(),
            download_url: m.2.as_str(),
            files_json: &m.3,
        }
    }

    /// The body as the SDK's version, when it names a `storage_path`.
    pub(crate) fn sent_in(body: &[u8]) -> Result<Option<SdkVersion>, ApiError> {
        let probe: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(body).ok();
        if !probe.is_some_and(|o| o.contains_key("storage_path")) {
            return Ok(None);
        }
        crate::routes::parse_json_object(body)
    }

    /// Adds it to model `model_ref` (id or name) of the credential's org: from the upload
    /// it names, checked against `checksum` and `size_bytes`, or as a manifest of the URL.
    pub(crate) async fn add(
        self,
        state: &AppState,
        credential: crate::domain::Credential,
        model_ref: String,
    ) -> Result<HttpResponse, ApiError> {
        let version = VersionName::try_from(self.version.clone())
            .map_err(|e| ApiError::BadRequest(format!("version {e}")))?;
        if self.format.is_empty() || self.format.chars().count() > 32 {
            return Err(ApiError::BadRequest(
                "format must be 1 to 32 characters, such as onnx".to_owned(),
            ));
        }
        let size = i64::try_from(self.size_bytes)
            .map_err(|_| ApiError::BadRequest("size_bytes is too large".to_owned()))?;
        let org_id = credential.org_id.to_string();
        let now = state.clock.now();
        if self.storage_path.starts_with("http://") || self.storage_path.starts_with("https://") {
            let url = crate::domain::DownloadUrl::try_from(self.storage_path.clone())
                .map_err(|e| ApiError::BadRequest(format!("storage_path {e}")))?;
            let files =
                serde_json::json!([{"path": url.as_str().rsplit('/').next().unwrap_or("model"),
                "size": size, "sha256": self.checksum.as_str()}])
                .to_string();
            let manifest = (model_ref, version, url, files, size);
            let added = state
                .db
                .write(move |tx| artifacts::add_manifest(tx, &org_id, &self.view(&manifest), now))
                .await?;
            return Ok(HttpResponse::Created().json(VersionBody::of(&added)));
        }
        let key = self.storage_path.clone();
        let upload = {
            let key = key.clone();
            state
                .db
                .read(move |conn| artifacts::find_upload(conn, &key))
                .await?
        }
        .filter(|u| u.org_id == org_id)
        .ok_or_else(|| artifacts::Refusal::NoUpload(key.clone()))?;
        match &upload.finished {
            None => {
                crate::artifacts::finish(
                    &state.artifacts,
                    &state.db,
                    &upload.id,
                    self.size_bytes,
                    Some(self.checksum.as_str()),
                )
                .await?
            }
            Some((stored, digest)) if *stored == size && digest == self.checksum.as_str() => {}
            Some(_) => {
                return Err(ApiError::BadRequest(format!(
                    "upload {} was finished with other bytes than checksum and size_bytes say",
                    quoted(&upload.id)
                )));
            }
        }
        let publish = Publish {
            model_ref,
            version: version.as_str().to_owned(),
            format: self.format,
            files: vec![PublishedFile {
                upload_id: upload.id,
                path: upload.filename,
            }],
        };
        let added = state
            .db
            .write(move |tx| artifacts::publish(tx, &org_id, &publish, now))
            .await?;
        Ok(HttpResponse::Created().json(VersionBody::of(&added)))
    }
}
