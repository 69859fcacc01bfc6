//! `PUT /api/v1/federation/uploads/{upload_id}/parts/{part}`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::federation::{self, Part};

pub const ACCESS: Access = Access {
    action: "uploading a federated update",
    allows: &[Allow::Device],
    target: Target::OwnDevice,
};

#[derive(Serialize, ToSchema)]
struct PartStored {
    #[schema(format = Uuid)]
    upload_id: String,
    part: i64,
    /// This part's bytes.
    bytes: u64,
    /// The upload's bytes over all its parts so far.
    stored_bytes: u64,
}

/// Upload a part of an update
///
/// One slice of the update envelope, as raw bytes (any Content-Type, or none), to a part
/// URL that starting the upload handed out. Parts may come in any order; a part sent again
/// replaces itself, so it is stored once. A part may be empty, and may be up to
/// `--upload-part-bytes` (not the API's 64 KiB); the upload's parts together may be up to
/// `--upload-max-bytes`.
#[utoipa::path(put, path = crate::routes::FROM_TABLE,
    tag = "federation",
    params(
        ("upload_id" = String, Path, format = Uuid, description = "The upload's id."),
        ("part" = i64, Path, minimum = 0, description = "The part's place in `part_urls`, from 0."),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The part's bytes."),
    responses(
        (status = 200, description = "Stored.", body = PartStored),
        (status = 404, description = "No such upload of the key's device, or no such part."),
        (status = 409, description = "The upload's round has ended."),
        (status = 413, description = "The part is over the part limit, or the upload over its \
            limit."),
    ),
)]
pub async fn put_upload_part(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, None)?;
    let (upload_id, part_text) = path.into_inner();
    let limits = state.uploads;
    let body = payload
        .to_bytes_limited(usize::try_from(limits.part_bytes).unwrap_or(usize::MAX))
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "an upload part may be at most {} bytes (--upload-part-bytes)",
                limits.part_bytes
            ))
        })?
        .map_err(|e| crate::body::unread(e, "the part's body"))?;
    let bytes = body.len() as u64;
    let part = Part {
        upload_id: upload_id.clone(),
        part: part_text,
        body: body.into(),
        max_bytes: limits.max_bytes,
    };
    let now = state.clock.now();
    let stored = state
        .db
        .write(move |tx| federation::put_part(tx, &acting, &part, now))
        .await?;
    let stored = PartStored {
        upload_id,
        part: stored.part,
        bytes,
        stored_bytes: stored.stored_bytes,
    };
    Ok(HttpResponse::Ok().json(stored))
}
