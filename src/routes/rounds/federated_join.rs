//! `POST /api/v1/federation/rounds/{round_id}/join`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::federated::{device_of, either_name, past_deadline, round_ended, round_for, settle_due};
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{JsonObject, RoundStatus, Timestamp};
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::{federation, rounds};

pub const ACCESS: Access = Access {
    action: "joining a federated round",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::BodyDevice,
};

/// Both SDKs' join bodies: the device agent's `{participation_id, device_id,
/// capabilities}` and the generated contract's `{deviceId, ...}`. Every field is optional
/// with a device key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({
    "participation_id": "0b6f0d56-2f4e-4a47-9a7e-8f3c1d2e4b5a",
    "device_id": "laptop-001",
    "capabilities": {"ram_mb": 4096}
})))]
struct FederationJoinRequest {
    /// The device agent's own id for this participation (a UUID it made); it names it
    /// again at upload. Absent: devreg makes one.
    #[schema(max_length = 128)]
    participation_id: Option<String>,
    /// The device (its `id` or identifier); required with the secret key.
    device_id: Option<String>,
    #[serde(rename = "deviceId")]
    device_id_camel: Option<String>,
    /// Kept with the participation, not read.
    capabilities: Option<JsonObject>,
}

#[derive(Serialize, ToSchema)]
struct Joined {
    participation_id: String,
    #[serde(rename = "participationId")]
    participation_id_camel: String,
    #[schema(format = Uuid)]
    round_id: String,
    #[serde(rename = "roundId")]
    #[schema(format = Uuid)]
    round_id_camel: String,
    #[schema(format = Uuid)]
    plan_id: String,
    #[serde(rename = "planId")]
    #[schema(format = Uuid)]
    plan_id_camel: String,
    /// The device's server UUID.
    #[schema(format = Uuid)]
    device_id: String,
    /// `joined`.
    status: &'static str,
    joined_at: Timestamp,
}

/// Join a federated round
///
/// Records that a device takes part in an active round it is offered, under the
/// participation id the device agent made (or one devreg makes). Joining again with the
/// same participation id (or none) changes nothing; another participation id is a 409, as
/// is joining a round that has ended or that already has the device's update.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    request_body(content = Option<FederationJoinRequest>, description = "Optional with a device key."),
    responses(
        (status = 200, description = "Joined.", body = Joined),
        (status = 404, description = "No such round or device that the key can see."),
        (status = 409, description = "The round has ended, the device's update is in, or the \
            device joined under another participation id."),
    ),
)]
pub async fn join_federated_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: FederationJoinRequest = parse_json_object(&body)?.unwrap_or_default();
    let named = either_name(request.device_id, request.device_id_camel)?;
    if let Some(pid) = &request.participation_id
        && (pid.is_empty() || pid.len() > 128 || pid.chars().any(char::is_control))
    {
        return Err(ApiError::BadRequest(format!(
            "participation_id must be 1 to 128 characters with no control characters, got {}",
            quoted(pid)
        )));
    }
    let capabilities =
        serde_json::to_string(&request.capabilities.map(|c| c.0).unwrap_or_default())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    settle_due(&state, credential.org_id.as_str()).await?;

    let reference = path.into_inner();
    let now = state.clock.now();
    let joined = state
        .db
        .write(move |tx| {
            let device = device_of(tx, &credential, named.as_deref())?;
            let round = round_for(tx, &device, &reference)?;
            if round.status != RoundStatus::Active || past_deadline(&round, now) {
                return Err(round_ended(&round, "joined"));
            }
            let before = federation::participation(tx, &round.id, &device.id)?;
            if before.update_received {
                return Err(ApiError::Conflict(format!(
                    "device {} has already sent its update to training round {}",
                    quoted(device.identifier.as_str()),
                    round.number
                )));
            }
            let pid = request
                .participation_id
                .or(before.participation_id.clone())
                .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string());
            if !federation::set_participation(tx, &round.id, &device.id, &pid, &capabilities)? {
                return Err(ApiError::Conflict(format!(
                    "device {} already joined training round {} as participation {}; upload \
                     under that participation_id",
                    quoted(device.identifier.as_str()),
                    round.number,
                    quoted(before.participation_id.as_deref().unwrap_or_default())
                )));
            }
            let (joined_at, _) = rounds::join(tx, &round.id, &device.id, now)?;
            if before.joined_at.is_none() {
                federation::device_event(
                    tx,
                    &round,
                    "round.joined",
                    &device.id,
                    now,
                    serde_json::json!({ "participation_id": pid }),
                )?;
            }
            Ok(Joined {
                participation_id_camel: pid.clone(),
                participation_id: pid,
                round_id_camel: round.id.clone(),
                plan_id: round.id.clone(),
                plan_id_camel: round.id.clone(),
                round_id: round.id,
                device_id: device.id,
                status: "joined",
                joined_at,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(joined))
}
