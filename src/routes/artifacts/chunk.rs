//! `GET /api/v1/artifacts/{artifact_id}/chunks/{path}/{n}`: the Python device agent's
//! download of a hosted file, one 8 MiB chunk at a time
//! (octomil/device_agent/loops/artifact_loop.py 432-446; artifact_downloader.py 21,
//! 96-100).
//!
//! The agent builds the URL itself from its server client's `base_url`, the desired
//! state's `artifactId` and `files[].path`, and sends no Authorization header and no
//! signature: `httpx.stream("GET", url, headers={"Range": ...})`. So the route serves a
//! caller with no key, the artifact id (random, handed only to the org's keys and
//! devices) standing for the credential it cannot send; a key of another org gets a 404,
//! as for every artifact route. Its `Range` is of the whole file
//! (`bytes={n*8MiB}-{n*8MiB+8MiB-1}`), so the answer is a 206 whose `Content-Range` is
//! the file's.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use super::file::serve_within;
use super::manifest::CHUNK_BYTES;
use crate::artifacts::check_file_path;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::artifacts;

pub const ACCESS: Access = Access {
    action: "downloading a model file's chunk",
    allows: &[
        Allow::Secret,
        Allow::Publishable,
        Allow::Device,
        Allow::Anonymous,
    ],
    target: Target::Org,
};

/// Download a chunk of a model file
///
/// Chunk `n` (from 0) of one file of a hosted version: its bytes `n*8MiB` to
/// `(n+1)*8MiB-1` (the last chunk ends with the file), as the Python device agent fetches
/// it. With no key (the agent sends none) or any key of the file's org. Without `Range`
/// the answer is the chunk (200); a `Range` of the file, as the agent sends, is served
/// where it meets the chunk (206, `Content-Range` of the file) and is a 416 elsewhere.
/// `ETag` is the file's SHA-256. A chunk past the file's last, or another org's file, is
/// a 404.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("artifact_id" = String, Path, description = "The version's `artifact_id`."),
        ("path" = String, Path, description = "The file's path in the version: relative, \
            up to 512 characters, no control character or backslash, no empty, `.` or `..` segment \
            (another path is a 400).",
            min_length = 1, max_length = 512, pattern = r"^(?!/)(?!.*/$)(?!.*//)(?!(.*/)?\.\.?(/|$))[^\\\u0000-\u001F\u007F-\u009F]+$"),
        ("n" = u64, Path, description = "The chunk's index, from 0; chunks are 8 MiB."),
    ),
    responses(
        (status = 200, description = "The chunk.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The part of the range asked for within the chunk.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "The chunk index is not a whole number from 0, or the path is not a file's."),
        (status = 404, description = "No such file, or no such chunk of it."),
        (status = 416, description = "The range is outside the chunk."),
    ),
)]
pub async fn get_chunk(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.check(caller)?;
    let (artifact_id, file_path, n) = path.into_inner();
    check_file_path(&file_path).map_err(ApiError::BadRequest)?;
    let n: u64 = n.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "the chunk index {} is not a whole number from 0",
            quoted(&n)
        ))
    })?;
    let id = artifact_id.clone();
    let file = state
        .db
        .read(move |conn| artifacts::files_of_artifact(conn, &id))
        .await?
        .into_iter()
        .find(|f| f.path == file_path)
        .filter(|f| {
            credential
                .as_ref()
                .is_none_or(|c| c.org_id.as_str() == f.org_id)
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no file {} in artifact {}",
                quoted(&file_path),
                quoted(&artifact_id)
            ))
        })?;
    let size = file.size as u64;
    let chunks = size.div_ceil(CHUNK_BYTES).max(1);
    let first = n.saturating_mul(CHUNK_BYTES);
    if n >= chunks || (size > 0 && first >= size) {
        return Err(ApiError::NotFound(format!(
            "file {} has {chunks} chunk(s) of 8 MiB, numbered from 0; there is no chunk {n}",
            quoted(&file.path)
        )));
    }
    let last = (first + CHUNK_BYTES).min(size).saturating_sub(1);
    if size == 0 {
        // An empty file's one chunk is empty: no window a range could meet.
        return serve_within(&req, &state, &file, req.method() != Method::HEAD, None).await;
    }
    serve_within(
        &req,
        &state,
        &file,
        req.method() != Method::HEAD,
        Some((first, last)),
    )
    .await
}
