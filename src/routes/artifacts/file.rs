//! `GET` and `HEAD /api/v1/artifacts/{artifact_id}/files/{path}`: one hosted file, whole
//! or a `Range` of it, streamed from storage with the digest as its ETag. Also
//! `GET /api/v1/models/{model_id}/versions/{version}/download`, a version's first file.

use actix_web::body::SizedStream;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{READ, Signed};
use crate::artifacts::{ByteRange, ByteStream, check_file_path, parse_range};
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::{parse_query, quoted};
use crate::state::AppState;
use crate::store::artifacts::{self, HostedFile};

pub const ACCESS: Access = Access {
    action: "downloading a model file",
    allows: &[
        Allow::Secret,
        Allow::Publishable,
        Allow::Device,
        Allow::Anonymous,
    ],
    target: Target::Org,
};

/// Download a model file
///
/// One file of a hosted version, with any key of its org or with the signed URL devreg
/// handed out (no Authorization header). Supports one `Range` (206; 416 outside the
/// file), `If-Range`, and `If-None-Match` against the ETag, which is the file's SHA-256.
/// Another org's file is a 404; an expired, changed or other org's signature a 403.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("artifact_id" = String, Path, description = "The version's `artifact_id`."),
        ("path" = String, Path, description = "The file's path in the version: relative, \
            up to 512 characters, no control character or backslash, no empty, `.` or `..` segment \
            (another path is a 400).",
            min_length = 1, max_length = 512, pattern = r"^(?!/)(?!.*/$)(?!.*//)(?!(.*/)?\.\.?(/|$))[^\\\u0000-\u001F\u007F-\u009F]+$"),
        ("org" = Option<String>, Query, description = "A signed URL's org."),
        ("expires" = Option<i64>, Query, description = "A signed URL's expiry, Unix seconds."),
        ("signature" = Option<String>, Query, description = "A signed URL's signature."),
    ),
    responses(
        (status = 200, description = "The file.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The range asked for.", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such file of the org's."),
        (status = 416, description = "The range is outside the file."),
    ),
)]
pub async fn get_file(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (artifact_id, file_path) = path.into_inner();
    let file = authorised_file(&req, &state, caller, artifact_id, file_path).await?;
    serve(&req, &state, &file, true).await
}

/// Check a model file
///
/// The headers [`get_file`] would answer (size, ETag, ranges), with no body.
#[utoipa::path(head, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("artifact_id" = String, Path, description = "The version's `artifact_id`."),
        ("path" = String, Path, description = "The file's path in the version: relative, \
            up to 512 characters, no control character or backslash, no empty, `.` or `..` segment \
            (another path is a 400).",
            min_length = 1, max_length = 512, pattern = r"^(?!/)(?!.*/$)(?!.*//)(?!(.*/)?\.\.?(/|$))[^\\\u0000-\u001F\u007F-\u009F]+$"),
        ("org" = Option<String>, Query, description = "A signed URL's org."),
        ("expires" = Option<i64>, Query, description = "A signed URL's expiry, Unix seconds."),
        ("signature" = Option<String>, Query, description = "A signed URL's signature."),
    ),
    responses(
        (status = 200, description = "The file's headers."),
        (status = 206, description = "The range's headers."),
        (status = 404, description = "No such file of the org's."),
        (status = 416, description = "The range is outside the file."),
    ),
)]
pub async fn head_file(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (artifact_id, file_path) = path.into_inner();
    let file = authorised_file(&req, &state, caller, artifact_id, file_path).await?;
    serve(&req, &state, &file, false).await
}

/// The file the path names, after its access check: a key of its org, or a signature.
async fn authorised_file(
    req: &HttpRequest,
    state: &AppState,
    caller: Caller,
    artifact_id: String,
    file_path: String,
) -> Result<HostedFile, ApiError> {
    let credential = ACCESS.check(caller)?;
    check_file_path(&file_path).map_err(ApiError::BadRequest)?;
    let query: Signed = parse_query(req)?;
    query.well_formed()?;
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
    if credential.is_none() {
        let resource = format!("{}/{}", file.artifact_id, file.path);
        query.check(
            &state.signing_key,
            READ,
            &file.org_id,
            &resource,
            state.clock.now(),
        )?;
    }
    Ok(file)
}

/// Whether an `If-None-Match` or `If-Range` value names `etag`.
fn names_etag(value: &str, etag: &str) -> bool {
    value
        .split(',')
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == "*" || v == etag)
}

/// The answer for `file`: 304, 416, 206 or 200, with the body when `body`.
pub(crate) async fn serve(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    file: &HostedFile,
    body: bool,
) -> Result<HttpResponse, ApiError> {
    serve_within(req, state, file, body, None).await
}

/// [`serve`] of the bytes `window` (first and last, inclusive) of `file`: the Python
/// agent's chunk. Without a `Range` the window is the answer (200); a `Range`, of the
/// whole file as the agent sends it, is served where it meets the window (206 with the
/// file's `Content-Range`), and is a 416 where it does not.
pub(crate) async fn serve_within(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    file: &HostedFile,
    body: bool,
    window: Option<(u64, u64)>,
) -> Result<HttpResponse, ApiError> {
    let etag = format!("\"{}\"", file.sha256);
    let size = file.size as u64;
    let headers = req.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::IF_NONE_MATCH).is_some_and(|v| names_etag(v, &etag)) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::ACCEPT_RANGES, "bytes"))
            .finish());
    }
    let mut range = parse_range(text(header::RANGE), size);
    if text(header::IF_RANGE).is_some_and(|v| !names_etag(v, &etag)) {
        range = ByteRange::Whole;
    }
    let mut whole = (0, size);
    if let Some((first, last)) = window {
        whole = (first, last - first + 1);
        range = match range {
            ByteRange::Part { start, end } if start <= last && end >= first => ByteRange::Part {
                start: start.max(first),
                end: end.min(last),
            },
            ByteRange::Part { .. } => ByteRange::Unsatisfiable,
            other => other,
        };
    }
    let mut response = match range {
        ByteRange::Unsatisfiable => {
            return Err(ApiError::RangeNotSatisfiable {
                message: match window {
                    Some((first, last)) => format!(
                        "the range {} is outside this chunk, bytes {first}-{last} of the \
                         file's {size}",
                        quoted(text(header::RANGE).unwrap_or_default())
                    ),
                    None => format!(
                        "the range {} is outside the file's {size} bytes",
                        quoted(text(header::RANGE).unwrap_or_default())
                    ),
                },
                size,
            });
        }
        ByteRange::Whole => HttpResponse::Ok(),
        ByteRange::Part { start, end } => {
            let mut partial = HttpResponse::PartialContent();
            partial.insert_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")));
            partial
        }
    };
    let (start, len) = match range {
        ByteRange::Part { start, end } => (start, end - start + 1),
        _ => whole,
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CONTENT_TYPE, "application/octet-stream"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}\"",
                file.path
                    .rsplit('/')
                    .next()
                    .unwrap_or("model")
                    .replace('"', "")
            ),
        ));
    if !body {
        // The length a GET would send, from a body that ends at once: actix sends no
        // body to HEAD, but takes Content-Length from the body's declared size.
        return Ok(response.body(SizedStream::new(len, ByteStream::empty())));
    }
    let counting = state.clone();
    let stream = state
        .artifacts
        .read(
            &file.sha256,
            start,
            len,
            Box::new(move |n| counting.metrics.count_artifact_bytes_served(n)),
        )
        .await?;
    Ok(response.body(SizedStream::new(len, stream)))
}
