//! `GET /api/v1/artifacts/{artifact_id}/manifest` and
//! `POST /api/v1/artifacts/{artifact_id}/download-urls`: what the generated clients call
//! before fetching a hosted version's files.
//!
//! The manifest has two shapes no single body can satisfy (docs/api.md, "Hosted
//! artifacts"): iOS (`User-Agent: octomil-ios/…`) requires snake_case `artifact_id` and
//! `files[{path, size_bytes, sha256}]` (Sync/DesiredStateTypes.swift 72-102); the Python
//! generated client parses camelCase with `chunks[]` and forbids any other key
//! (_generated/types.py 1511-1568). Every other caller gets the Python shape.

use std::io::Read;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{URL_LIFETIME_SECS, hosted_file_url};
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::artifacts::{self, HostedFile};

pub const ACCESS: Access = Access {
    action: "reading an artifact",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// The Python device agent's chunk size (device_agent/loops/artifact_downloader.py 21).
pub(crate) const CHUNK_BYTES: u64 = 8 * 1024 * 1024;

/// The hosted files of the artifact the path names, in the key's org.
async fn files(
    state: &AppState,
    caller: Caller,
    artifact_id: String,
) -> Result<Vec<HostedFile>, ApiError> {
    let credential = ACCESS.require(caller)?;
    let id = artifact_id.clone();
    let files: Vec<HostedFile> = state
        .db
        .read(move |conn| artifacts::files_of_artifact(conn, &id))
        .await?
        .into_iter()
        .filter(|f| f.org_id == credential.org_id.as_str())
        .collect();
    if files.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no hosted artifact {} in this key's org",
            quoted(&artifact_id)
        )));
    }
    Ok(files)
}

/// One file in iOS's manifest.
#[derive(Serialize, ToSchema)]
struct ManifestFile {
    path: String,
    size_bytes: i64,
    sha256: String,
}

/// iOS's manifest.
#[derive(Serialize, ToSchema)]
struct SnakeManifest {
    artifact_id: String,
    model_id: String,
    version: String,
    total_bytes: i64,
    files: Vec<ManifestFile>,
}

/// One 8 MiB chunk of the (first) file, in the Python client's manifest.
#[derive(Serialize, ToSchema)]
struct Chunk {
    index: u64,
    offset: u64,
    size: u64,
    sha256: String,
}

/// The Python generated client's manifest.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct CamelManifest {
    artifact_id: String,
    model_id: String,
    version: String,
    format: String,
    total_bytes: i64,
    sha256: String,
    chunks: Vec<Chunk>,
}

/// Get an artifact's manifest
///
/// A hosted version's files: for iOS (`User-Agent: octomil-ios/…`) snake_case
/// `{artifact_id, model_id, version, total_bytes, files[{path, size_bytes, sha256}]}`;
/// for every other caller the generated contract's camelCase `{artifactId, modelId,
/// version, format, totalBytes, sha256, chunks[{index, offset, size, sha256}]}`, the
/// chunks 8 MiB slices of the first file.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(("artifact_id" = String, Path, description = "The version's `artifact_id`.")),
    responses(
        (status = 200, description = "The manifest (iOS's shape).", body = SnakeManifest),
        (status = 404, description = "No hosted artifact of that id in the key's org."),
    ),
)]
pub async fn get_manifest(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let files = files(&state, caller, path.into_inner()).await?;
    let first = &files[0];
    let total: i64 = files.iter().map(|f| f.size).sum();
    let ios = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("octomil-ios/"));
    if ios {
        return Ok(HttpResponse::Ok().json(SnakeManifest {
            artifact_id: first.artifact_id.clone(),
            model_id: first.model_id.clone(),
            version: first.version.clone(),
            total_bytes: total,
            files: files
                .iter()
                .map(|f| ManifestFile {
                    path: f.path.clone(),
                    size_bytes: f.size,
                    sha256: f.sha256.clone(),
                })
                .collect(),
        }));
    }
    let store = state.artifacts.clone();
    let size = first.size as u64;
    let whole = first.sha256.clone();
    let chunks = web::block(move || chunk_digests(&store, size, &whole))
        .await
        .map_err(|e| ApiError::Internal(format!("reading a hosted file: {e}")))?
        .map_err(|e| ApiError::Internal(format!("reading a hosted file: {e}")))?;
    let format = std::path::Path::new(&first.path)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "bin".to_owned());
    Ok(HttpResponse::Ok().json(CamelManifest {
        artifact_id: first.artifact_id.clone(),
        model_id: first.model_id.clone(),
        version: first.version.clone(),
        format,
        total_bytes: first.size,
        sha256: first.sha256.clone(),
        chunks,
    }))
}

/// The 8 MiB chunks of the stored file of digest `whole` with their digests (one chunk:
/// the file's).
fn chunk_digests(
    store: &crate::artifacts::Artifacts,
    size: u64,
    whole: &str,
) -> std::io::Result<Vec<Chunk>> {
    use sha2::Digest;
    if size <= CHUNK_BYTES {
        return Ok(vec![Chunk {
            index: 0,
            offset: 0,
            size,
            sha256: whole.to_owned(),
        }]);
    }
    let mut file = store.reader(whole, size)?;
    let mut chunks = Vec::new();
    let mut offset = 0;
    while offset < size {
        let len = CHUNK_BYTES.min(size - offset);
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut (&mut file).take(len), &mut hasher)?;
        chunks.push(Chunk {
            index: offset / CHUNK_BYTES,
            offset,
            size: len,
            sha256: crate::artifacts::hex(&hasher.finalize()),
        });
        offset += len;
    }
    Ok(chunks)
}

/// Which files to sign: iOS sends paths, Node and the browser `{path}` objects; none
/// means every file.
#[derive(Debug, Default, Deserialize, ToSchema)]
struct UrlRequest {
    #[serde(default)]
    files: Vec<WantedFile>,
}

/// A file named by its path (iOS) or by an object with its path (Node, browser).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
enum WantedFile {
    Path(String),
    Object { path: String },
}

/// One file's signed URL.
#[derive(Serialize, ToSchema)]
struct SignedFile {
    path: String,
    url: String,
    expires_at: Timestamp,
    size: i64,
    sha256: String,
}

/// The signed URLs, as iOS reads them (`artifact_id, urls[{path, url}]`).
#[derive(Serialize, ToSchema)]
struct SignedUrls {
    artifact_id: String,
    urls: Vec<SignedFile>,
}

/// Get download URLs for an artifact's files
///
/// Signed URLs (an hour; no Authorization header needed) for the files the body names
/// (`{"files": ["model.onnx"]}`, or `[{"path": …}]`), or every file.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "models",
    params(("artifact_id" = String, Path, description = "The version's `artifact_id`.")),
    request_body(content = UrlRequest, description = "The files; none for every file."),
    responses(
        (status = 200, description = "The URLs.", body = SignedUrls),
        (status = 404, description = "No hosted artifact of that id in the key's org, or no such file."),
    ),
)]
pub async fn post_download_urls(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let files = files(&state, caller, path.into_inner()).await?;
    let request: UrlRequest = crate::routes::parse_json_object(&body)?.unwrap_or_default();
    let mut wanted = Vec::new();
    for entry in &request.files {
        let (WantedFile::Path(path) | WantedFile::Object { path }) = entry;
        crate::artifacts::check_file_path(path).map_err(ApiError::BadRequest)?;
        let file = files.iter().find(|f| &f.path == path).ok_or_else(|| {
            ApiError::NotFound(format!("the artifact has no file {}", quoted(path)))
        })?;
        wanted.push(file);
    }
    if request.files.is_empty() {
        wanted = files.iter().collect();
    }
    let expires_at = Timestamp(state.clock.now().0 + URL_LIFETIME_SECS);
    Ok(HttpResponse::Ok().json(SignedUrls {
        artifact_id: files[0].artifact_id.clone(),
        urls: wanted
            .into_iter()
            .map(|f| SignedFile {
                path: f.path.clone(),
                url: hosted_file_url(&req, &state, f),
                expires_at,
                size: f.size,
                sha256: f.sha256.clone(),
            })
            .collect(),
    }))
}
