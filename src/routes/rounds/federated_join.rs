//! `POST /api/v1/federation/rounds/{round_id}/join`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::federated::either_name;
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::{JsonObject, Timestamp};
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::rounds::{self, Join, Participating};

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
    let capabilities_json =
        serde_json::to_string(&request.capabilities.map(|c| c.0).unwrap_or_default())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    let acting = Acting { credential, named };
    let command = Join {
        round: path.into_inner(),
        federated: Some(Participating {
            participation_id: request.participation_id,
            capabilities_json,
        }),
    };
    let now = state.clock.now();
    let stored = state
        .db
        .write(move |tx| rounds::join(tx, &acting, &command, now))
        .await?;
    let (round, pid) = (stored.round, stored.participation_id.unwrap_or_default());
    let joined = Joined {
        participation_id_camel: pid.clone(),
        participation_id: pid,
        round_id_camel: round.id.clone(),
        plan_id: round.id.clone(),
        plan_id_camel: round.id.clone(),
        round_id: round.id,
        device_id: stored.device.id,
        status: "joined",
        joined_at: stored.joined_at,
    };
    Ok(HttpResponse::Ok().json(joined))
}
