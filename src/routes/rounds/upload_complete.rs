//! `POST /api/v1/federation/rounds/{round_id}/uploads/{upload_id}/complete` (the Python
//! device agent's) and `POST .../updates/{upload_id}/complete` (the generated contract's)

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::federated::{past_deadline, round_ended, settle_due};
use super::upload_part::upload_not_found;
use crate::auth::{Access, Allow, Caller, Credential, Target};
use crate::domain::{JsonObject, RoundStatus, SampleCount};
use crate::error::ApiError;
use crate::federation::open_envelope;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::federation::{self, Completion, Refusal};
use crate::store::rounds;

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
    let credential = ACCESS.require(caller)?;
    let (round, upload) = path.into_inner();
    complete(state, credential, round, upload, body).await
}

/// `sample_count` from a meta object: absent is `None`, anything but a positive integer a
/// 400.
fn sample_count(meta: &Value, source: &str) -> Result<Option<u64>, ApiError> {
    match meta.get("sample_count") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => SampleCount::try_from(value.clone())
            .map(|n| Some(n.get()))
            .map_err(|e| ApiError::BadRequest(format!("{source}.sample_count {e}"))),
    }
}

async fn complete(
    state: web::Data<AppState>,
    credential: Credential,
    round_ref: String,
    upload_id: String,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: CompleteRequest = parse_json_object(&body)?.unwrap_or_default();
    let complete_meta = Value::Object(request.meta.map(|m| m.0).unwrap_or_default());
    settle_due(&state, credential.org_id.as_str()).await?;

    // Read the upload and its parts, and check the envelope off the writer thread: hashing
    // and parsing a large update must not hold up every other write.
    let (org, id) = (credential.org_id.clone(), upload_id.clone());
    let device_id = credential.device_id.clone().unwrap_or_default();
    let (upload, round, joined) = state
        .db
        .read(move |conn| {
            let upload = federation::find_upload(conn, &id)?
                .filter(|u| u.device_id == device_id)
                .ok_or_else(|| upload_not_found(&id))?;
            let round = rounds::find(conn, org.as_str(), &round_ref)?
                .filter(|r| r.id == upload.round_id)
                .ok_or_else(|| upload_not_found(&id))?;
            let parts = federation::parts(conn, &id)?;
            Ok::<_, ApiError>((upload, round, parts))
        })
        .await?;
    let now = state.clock.now();
    if round.status != RoundStatus::Active || past_deadline(&round, now) {
        return Err(round_ended(&round, "sent updates"));
    }
    if let Some(missing) = (0..upload.part_count).find(|n| !joined.iter().any(|(p, _)| p == n)) {
        return Err(ApiError::BadRequest(format!(
            "part {missing} of upload {} (parts 0 to {}) was never uploaded: PUT it to its part \
             URL, then complete again",
            quoted(&upload.id),
            upload.part_count - 1
        )));
    }
    let upload_meta: Value = serde_json::from_str(upload.meta.get()).unwrap_or(Value::Null);
    let weight = match sample_count(&complete_meta, "meta")? {
        Some(n) => n,
        None => sample_count(&upload_meta, "the upload's meta")?.unwrap_or(1),
    };
    let opened = actix_web::web::block(move || {
        let bytes: Vec<u8> = joined.into_iter().flat_map(|(_, b)| b).collect();
        open_envelope(&bytes)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;

    let accepted = state
        .db
        .write(move |tx| -> Result<Result<Accepted, ApiError>, ApiError> {
            let Some(upload) = federation::find_upload(tx, &upload.id)? else {
                return Ok(Err(upload_not_found(&upload.id)));
            };
            let update = match opened {
                Ok(update) => update,
                Err(why) => {
                    // Nothing of a refused upload is kept.
                    federation::delete_upload(tx, &upload.id)?;
                    return Ok(Err(ApiError::BadRequest(why)));
                }
            };
            let round = rounds::find(tx, round.org_id.as_str(), &round.id)?
                .ok_or_else(|| upload_not_found(&upload.id))?;
            if round.status != RoundStatus::Active {
                return Ok(Err(round_ended(&round, "sent updates")));
            }
            let received =
                match federation::accept_update(tx, &round, &upload, weight, &update, now)? {
                    Ok(received) => received,
                    Err(refusal) => {
                        federation::delete_upload(tx, &upload.id)?;
                        return Ok(Err(match refusal {
                            Refusal::Length { expected } => ApiError::BadRequest(format!(
                                "the update has {} numbers but training round {}'s updates have \
                             {expected}: every update of a round must be as long",
                                update.len(),
                                round.number
                            )),
                            Refusal::AlreadyReceived => ApiError::Conflict(format!(
                                "training round {} already has this device's update",
                                round.number
                            )),
                        }));
                    }
                };
            federation::device_event(
                tx,
                &round,
                "round.update_received",
                &upload.device_id,
                now,
                serde_json::json!({
                    "upload_id": upload.id,
                    "sample_count": weight,
                    "length": update.len(),
                    "updates_received": received,
                }),
            )?;
            let mut round_status = round.status;
            if round.min_devices.is_some_and(|m| received >= u64::from(m))
                && federation::complete(tx, &round, Completion::MinDevices, now)?.is_some()
            {
                round_status = RoundStatus::Completed;
            }
            Ok(Ok(Accepted {
                upload_id: upload.id,
                round_id: round.id,
                status: "accepted",
                sample_count: weight,
                updates_received: received,
                min_devices: round.min_devices,
                round_status,
            }))
        })
        .await??;
    Ok(HttpResponse::Ok().json(accepted))
}
