//! `POST /api/v1/federation/rounds/{round_id}/uploads/{upload_id}/complete` (the Python
//! device agent's) and `POST .../updates/{upload_id}/complete` (the generated contract's)

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::{JsonObject, RoundStatus, SampleCount};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::federation::{self, CompleteUpload, Completed, UploadRef};

pub const ACCESS: Access = Access {
    action: "uploading a federated update",
    allows: &[Allow::Device],
    target: Target::OwnDevice,
};

/// The device agent's `{meta, privacy_proof}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"meta": {"sample_count": 30}, "privacy_proof": null})))]
struct CompleteRequest {
    /// `sample_count`, the update's FedAvg weight, is read from here, else from the
    /// upload's `meta`, else 1.
    meta: Option<JsonObject>,
    /// Not read.
    #[serde(rename = "privacy_proof")]
    _privacy_proof: Option<Value>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = UpdateAccepted)]
struct Accepted {
    #[schema(format = Uuid)]
    upload_id: String,
    #[schema(format = Uuid)]
    round_id: String,
    /// `accepted`.
    status: &'static str,
    /// The update's weight.
    sample_count: u64,
    /// Updates the round has accepted, this one included.
    updates_received: u64,
    min_devices: Option<u32>,
    /// The round's status after this update: `completed` when it was the last one wanted.
    round_status: RoundStatus,
}

/// Complete an update upload
///
/// The device agent's call, and the generated contract's `federation.upload_complete` at
/// its own path. Joins the upload's parts in order, checks the envelope (`plaintext_json`;
/// `size` and `sha256` of its `data` as sent) and adds the update into the round's FedAvg,
/// weighted by `meta.sample_count`. Answers exactly 200 (the device agent counts nothing else as
/// success). A wrong size or digest, a bad envelope, or an update of another length than
/// the round's is a 400 and nothing of the upload is kept. When the round then has
/// `min_devices` updates it completes and keeps its result.
#[utoipa::path(post, path = crate::routes::FROM_TABLE,
    tag = "federation",
    params(
        ("round_id" = String, Path, min_length = 1,
            description = "The round's `id`, or its `number` in the org.", example = "1"),
        ("upload_id" = String, Path, format = Uuid, description = "The upload's id."),
    ),
    request_body(content = Option<CompleteRequest>, description = "Optional."),
    responses(
        (status = 200, description = "The update is in.", body = Accepted),
        (status = 400, description = "A part is missing, the envelope is not valid, its size \
            or digest is wrong, the update's length differs from the round's, or \
            `meta.sample_count` is not a positive integer."),
        (status = 404, description = "No such upload of the key's device in that round."),
        (status = 409, description = "The round has ended, or has the device's update."),
    ),
)]
pub async fn complete_upload(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, None)?;
    let (round, upload_id) = path.into_inner();
    complete(state, acting, round, upload_id, body).await
}

/// `sample_count` from the body's `meta`: absent is `None`, anything but a positive
/// integer a 400.
fn sample_count(meta: Option<JsonObject>) -> Result<Option<u64>, ApiError> {
    match meta.as_ref().and_then(|m| m.0.get("sample_count")) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => SampleCount::try_from(value.clone())
            .map(|n| Some(n.get()))
            .map_err(|e| ApiError::BadRequest(format!("meta.sample_count {e}"))),
    }
}

/// A read of the upload, then the write that accepts the update. Between them, on the
/// blocking pool, the parts are read one at a time (each a short read) and streamed
/// through the digest and the parser, so a large update holds up neither the writer
/// (every other write waits on it) nor a read connection, and memory holds one part and
/// the update's numbers, never the joined envelope.
async fn complete(
    state: web::Data<AppState>,
    acting: Acting,
    round: String,
    upload_id: String,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: CompleteRequest = parse_json_object(&body)?.unwrap_or_default();
    let target = UploadRef {
        round,
        upload_id,
        sample_count: sample_count(request.meta)?,
    };
    let now = state.clock.now();
    let (reader, read) = (acting.clone(), target.clone());
    let parts = state
        .db
        .read(move |conn| federation::upload_parts(conn, &reader, &read, now))
        .await?;
    let db = state.db.clone();
    let opened = web::block(move || {
        parts
            .map(|p| p.open(|id, n| db.read_sync(|conn| federation::part_body(conn, id, n))))
            .transpose()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let command = CompleteUpload { target, opened };
    let completed = state
        .db
        .write(move |tx| federation::complete_upload(tx, &acting, &command, now))
        .await?;
    let accepted = match completed {
        Completed::Accepted(accepted) => accepted,
        Completed::Discarded(why) => return Err(why.into()),
    };
    Ok(HttpResponse::Ok().json(Accepted {
        upload_id: accepted.upload_id,
        round_id: accepted.round_id,
        status: "accepted",
        sample_count: accepted.sample_count,
        updates_received: accepted.updates_received,
        min_devices: accepted.min_devices,
        round_status: accepted.round_status,
    }))
}
