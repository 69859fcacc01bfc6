//! `PUT /api/v1/artifacts/uploads/{upload_id}` and `GET` of the same: a model file's
//! bytes, streamed to storage with its digest computed on the way, resumable at the
//! offset received so far.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_core::Stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Signed, WRITE};
use crate::artifacts::{StorageError, UploadWriter};
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::{parse_query, quoted};
use crate::state::AppState;
use crate::store::artifacts::{self, Upload};

pub const ACCESS: Access = Access {
    action: "uploading a model file",
    allows: &[Allow::Secret, Allow::Anonymous],
    target: Target::Org,
};

/// Bytes gathered before one write to storage: what an upload holds in memory.
const WRITE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Deserialize)]
struct UploadQuery {
    /// Where this body starts in the file: 0 (or none) starts over; the bytes received so
    /// far resumes.
    offset: Option<String>,
    #[serde(flatten)]
    signed: Signed,
}

/// An upload's bytes received so far.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"upload_id": "upl_5f0c1e", "received_bytes": 4096})))]
struct UploadProgress {
    upload_id: String,
    /// Resume a dropped upload with `?offset=` this.
    received_bytes: u64,
}

/// The upload the path names, after its access check: a secret key of its org, or the
/// signature of its upload URL.
async fn authorised_upload(
    req: &HttpRequest,
    state: &AppState,
    caller: Caller,
    upload_id: String,
) -> Result<(Upload, UploadQuery), ApiError> {
    let credential = ACCESS.check(caller)?;
    let query: UploadQuery = parse_query(req)?;
    query.signed.well_formed()?;
    let id = upload_id.clone();
    let upload = state
        .db
        .read(move |conn| artifacts::find_upload(conn, &id))
        .await?
        .filter(|u| {
            credential
                .as_ref()
                .is_none_or(|c| c.org_id.as_str() == u.org_id)
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no upload {} in progress; start one with POST \
                 /api/v1/models/{{model_id}}/versions/upload-url",
                quoted(&upload_id)
            ))
        })?;
    if credential.is_none() {
        query.signed.check(
            &state.signing_key,
            WRITE,
            &upload.org_id,
            &upload.id,
            state.clock.now(),
        )?;
    }
    Ok((upload, query))
}

/// Upload a model file
///
/// The file's bytes (any Content-Type), to the signed `upload_url` that starting the
/// upload answered (no Authorization header needed) or with the org's secret key. The
/// body streams to storage, hashed on the way; it may be up to `--artifact-max-bytes`
/// (not the API's 64 KiB) and the org's `--artifact-quota-bytes`. A dropped upload
/// resumes: `GET` the same URL for `received_bytes`, then PUT the rest with
/// `?offset=` it. An upload too large or that fills the disk is removed.
#[utoipa::path(put, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("upload_id" = String, Path, description = "The upload's id (`storage_key`)."),
        ("offset" = Option<u64>, Query, description = "Where the body starts in the file: the bytes received so far, to resume."),
        ("org" = Option<String>, Query, description = "The upload URL's org."),
        ("expires" = Option<i64>, Query, description = "The upload URL's expiry, Unix seconds."),
        ("signature" = Option<String>, Query, description = "The upload URL's signature."),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The file's bytes."),
    responses(
        (status = 200, description = "Received.", body = UploadProgress),
        (status = 404, description = "No such upload in progress."),
        (status = 409, description = "The offset is not the bytes received so far, or the upload is finished."),
        (status = 507, description = "The org's artifact quota would be passed, or the disk is full."),
    ),
)]
pub async fn put_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (upload, query) = authorised_upload(&req, &state, caller, path.into_inner()).await?;
    if upload.finished.is_some() {
        return Err(ApiError::Conflict(format!(
            "upload {} is finished; start another to send a file again",
            quoted(&upload.id)
        )));
    }
    let offset = match query.offset.as_deref() {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "offset must be a whole number of bytes, got {}",
                quoted(text)
            ))
        })?,
    };
    let org_id = upload.org_id.clone();
    let used = state
        .db
        .read(move |conn| artifacts::org_bytes(conn, &org_id))
        .await?
        .max(0) as u64;
    let limits = state.artifact_limits;
    let artifacts = state.artifacts.clone();
    let id = upload.id.clone();
    let writer = web::block(move || artifacts.open_upload(&id, offset))
        .await
        .map_err(|e| ApiError::Internal(format!("opening an upload: {e}")))?
        .map_err(|received| match received {
            Some(received) => ApiError::Conflict(format!(
                "upload {} has received {received} bytes; resume with ?offset={received}",
                quoted(&upload.id)
            )),
            None => ApiError::Internal("the upload's file could not be opened".to_owned()),
        })?;
    let received = receive(&state, &upload, writer, payload, used, limits).await?;
    Ok(HttpResponse::Ok().json(UploadProgress {
        upload_id: upload.id,
        received_bytes: received,
    }))
}

/// Streams `payload` into `writer`, [`WRITE_BYTES`] at a time, under the byte limits and
/// a deadline per chunk; returns the upload's bytes. A refused upload's bytes are removed;
/// a dropped connection's are kept for a resume.
async fn receive(
    state: &AppState,
    upload: &Upload,
    mut writer: UploadWriter,
    mut payload: web::Payload,
    used: u64,
    limits: crate::state::ArtifactLimits,
) -> Result<u64, ApiError> {
    let mut buffer: Vec<u8> = Vec::with_capacity(WRITE_BYTES);
    let start = writer.written();
    let refuse = |err: ApiError| {
        state.artifacts.discard_upload(&upload.id);
        err
    };
    loop {
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut payload).poll_next(cx));
        let chunk = match tokio::time::timeout(state.body_timeout, next).await {
            Ok(Some(Ok(chunk))) => Some(chunk),
            Ok(None) => None,
            Ok(Some(Err(e))) => {
                // The connection dropped: keep what arrived, for a resume.
                let kept = flush(writer, buffer).await.and_then(close);
                return Err(match kept {
                    Ok(n) => ApiError::BadRequest(format!(
                        "the body could not be read ({e}); {n} bytes are kept: resume with \
                         ?offset={n}"
                    )),
                    Err(stored) => refuse(stored),
                });
            }
            Err(_) => {
                let kept = flush(writer, buffer).await.and_then(close);
                return Err(match kept {
                    Ok(n) => ApiError::RequestTimeout(format!(
                        "the body stalled for {} s; {n} bytes are kept: resume with ?offset={n}",
                        state.body_timeout.as_secs_f64()
                    )),
                    Err(stored) => refuse(stored),
                });
            }
        };
        let Some(chunk) = chunk else { break };
        let total = writer.written() + (buffer.len() + chunk.len()) as u64;
        if total > limits.max_bytes {
            drop(writer);
            return Err(refuse(ApiError::PayloadTooLarge(format!(
                "a model file may be at most {} bytes (--artifact-max-bytes)",
                limits.max_bytes
            ))));
        }
        if limits.quota_bytes > 0 && used + total > limits.quota_bytes {
            drop(writer);
            return Err(refuse(ApiError::InsufficientStorage(format!(
                "org {} would store more than its quota of {} bytes of model files \
                 (--artifact-quota-bytes); it stores {used}",
                upload.org_id, limits.quota_bytes
            ))));
        }
        buffer.extend_from_slice(&chunk);
        if buffer.len() >= WRITE_BYTES {
            let (w, b) = match flush(writer, buffer).await {
                Ok(pair) => pair,
                Err(stored) => return Err(refuse(stored)),
            };
            writer = w;
            buffer = b;
        }
    }
    let received = match flush(writer, buffer).await.and_then(close) {
        Ok(n) => n,
        Err(stored) => return Err(refuse(stored)),
    };
    state
        .metrics
        .count_artifact_bytes_uploaded(received - start);
    Ok(received)
}

/// Writes `buffer` out on a blocking thread; answers the writer and the emptied buffer.
async fn flush(
    mut writer: UploadWriter,
    mut buffer: Vec<u8>,
) -> Result<(UploadWriter, Vec<u8>), ApiError> {
    if buffer.is_empty() {
        return Ok((writer, buffer));
    }
    web::block(move || {
        let written = writer.write(&buffer);
        buffer.clear();
        written.map(|()| (writer, buffer))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("writing an upload: {e}")))?
    .map_err(storage_error)
}

fn close((writer, _): (UploadWriter, Vec<u8>)) -> Result<u64, ApiError> {
    writer.close().map_err(storage_error)
}

/// The answer to a failed write into storage.
pub(crate) fn storage_error(e: StorageError) -> ApiError {
    e.into()
}

/// Show an upload's progress
///
/// The bytes an upload has received so far, to resume it with `?offset=`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(
        ("upload_id" = String, Path, description = "The upload's id (`storage_key`)."),
        ("org" = Option<String>, Query, description = "The upload URL's org."),
        ("expires" = Option<i64>, Query, description = "The upload URL's expiry, Unix seconds."),
        ("signature" = Option<String>, Query, description = "The upload URL's signature."),
    ),
    responses(
        (status = 200, description = "Its progress.", body = UploadProgress),
        (status = 404, description = "No such upload in progress."),
    ),
)]
pub async fn get_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (upload, _) = authorised_upload(&req, &state, caller, path.into_inner()).await?;
    let received = match &upload.finished {
        Some((size, _)) => *size as u64,
        None => state.artifacts.received(&upload.id),
    };
    Ok(HttpResponse::Ok().json(UploadProgress {
        upload_id: upload.id,
        received_bytes: received,
    }))
}
