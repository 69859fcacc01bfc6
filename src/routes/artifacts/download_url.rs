//! `GET /api/v1/models/{model_id}/versions/{version}/download-url` and
//! `GET /api/v1/models/{model_id}/versions/{version}/download`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{URL_LIFETIME_SECS, hosted_file_url};
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::artifacts::{self, HostedFile};
use crate::store::models::ModelVersion;

pub const ACCESS: Access = Access {
    action: "downloading a model version",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// One file of the version and where to get it.
#[derive(Serialize, ToSchema)]
struct FileUrl {
    path: String,
    url: String,
    size: i64,
    sha256: String,
}

/// Where to download a version: its (first) file's URL, the fields the Python SDK
/// (`url`) and iOS (`url`, `expires_at`, `checksum`, `file_size`) read, and every file.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "url": "http://127.0.0.1:8080/api/v1/artifacts/art_01a2/files/model.onnx?org=org_demo&expires=1796000000&signature=9a1c",
    "expires_at": "2026-11-25T21:57:33Z",
    "checksum": "abababababababababababababababababababababababababababababababab",
    "sha256": "abababababababababababababababababababababababababababababababab",
    "file_size": 4096,
    "format": "onnx",
    "hosted": true,
    "files": [{"path": "model.onnx", "url": "http://127.0.0.1:8080/api/v1/artifacts/art_01a2/files/model.onnx?org=org_demo&expires=1796000000&signature=9a1c",
        "size": 4096, "sha256": "abababababababababababababababababababababababababababababababab"}]
})))]
// Named apart from the domain's `DownloadUrl` (a manifest's URL string), whose schema this
// one's would otherwise replace in the document.
#[schema(as = VersionDownload)]
struct DownloadUrl {
    /// Signed for a hosted file: it works without an Authorization header until
    /// `expires_at`.
    url: String,
    expires_at: Timestamp,
    /// The file's SHA-256.
    checksum: String,
    sha256: String,
    file_size: i64,
    format: String,
    /// Whether devreg serves the bytes (else `url` is the version's own `download_url`).
    hosted: bool,
    files: Vec<FileUrl>,
}

/// The version the path names, in the key's org, with its hosted files.
async fn find(
    state: &AppState,
    caller: Caller,
    path: (String, String),
) -> Result<(ModelVersion, Vec<HostedFile>), ApiError> {
    let credential = ACCESS.require(caller)?;
    let (model_ref, version) = path;
    let org_id = credential.org_id.to_string();
    let (m, v) = (model_ref.clone(), version.clone());
    state
        .db
        .read(move |conn| artifacts::find_version(conn, &org_id, &m, &v))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no version {} of a model {} in this key's org",
                quoted(&version),
                quoted(&model_ref)
            ))
        })
}

/// Get a version's download URL
///
/// Where a device downloads a version (model by id or name): for a hosted version a URL
/// devreg signed, working without an Authorization header for an hour; else the version's
/// own `download_url`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("model_id" = String, Path, description = "The model's id or name."),
        ("version" = String, Path, description = "The version."),
    ),
    responses(
        (status = 200, description = "Where to download it.", body = DownloadUrl),
        (status = 404, description = "No such version in the key's org."),
    ),
)]
pub async fn get_download_url(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (version, files) = find(&state, caller, path.into_inner()).await?;
    let expires_at = Timestamp(state.clock.now().0 + URL_LIFETIME_SECS);
    let urls: Vec<FileUrl> = files
        .iter()
        .map(|f| FileUrl {
            path: f.path.clone(),
            url: hosted_file_url(&req, &state, f),
            size: f.size,
            sha256: f.sha256.clone(),
        })
        .collect();
    let (url, checksum, file_size) = match urls.first() {
        Some(first) => (first.url.clone(), first.sha256.clone(), first.size),
        None => (
            version.download_url.clone(),
            version.sha256.clone(),
            version.total_bytes,
        ),
    };
    Ok(HttpResponse::Ok().json(DownloadUrl {
        url,
        expires_at,
        sha256: checksum.clone(),
        checksum,
        file_size,
        format: version.format.clone(),
        hosted: !urls.is_empty(),
        files: urls,
    }))
}

/// Download a version
///
/// A hosted version's first file, as `GET /api/v1/artifacts/{artifact_id}/files/{path}`
/// serves it (`Range` included); a version whose file is elsewhere answers 302 to its
/// `download_url`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("model_id" = String, Path, description = "The model's id or name."),
        ("version" = String, Path, description = "The version."),
    ),
    responses(
        (status = 200, description = "The file.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 302, description = "The version's file is not hosted by devreg: `Location` is its `download_url`.",
            headers(("Location" = String, description = "The version's `download_url`."))),
        (status = 404, description = "No such version in the key's org."),
        (status = 416, description = "The range is outside the file."),
    ),
)]
pub async fn download_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (version, files) = find(&state, caller, path.into_inner()).await?;
    match files.first() {
        Some(file) => super::file::serve(&req, &state, file, true).await,
        None => Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, version.download_url))
            .finish()),
    }
}
