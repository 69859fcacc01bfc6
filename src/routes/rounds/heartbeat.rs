//! `POST /api/v1/federation/rounds/{round_id}/heartbeat`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::federated::either_name;
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::{RoundStatus, Timestamp};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::{federation, rounds};

pub const ACCESS: Access = Access {
    action: "sending a round heartbeat",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::BodyDevice,
};

/// The generated contract's `{deviceId, ...}`; other fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"deviceId": "laptop-001"})))]
struct RoundHeartbeat {
    /// The device (its `id` or identifier); required with the secret key.
    device_id: Option<String>,
    #[serde(rename = "deviceId")]
    device_id_camel: Option<String>,
}

/// Where a device stands in a round.
#[derive(Serialize, ToSchema)]
struct RoundStanding {
    #[schema(format = Uuid)]
    round_id: String,
    #[serde(rename = "roundId")]
    #[schema(format = Uuid)]
    round_id_camel: String,
    status: RoundStatus,
    /// Whether the device joined the round.
    joined: bool,
    /// Whether the device's update is in.
    update_received: bool,
    /// Updates the round has accepted.
    updates_received: u64,
    min_devices: Option<u32>,
    /// The round's deadline; null for none.
    expires_at: Option<Timestamp>,
    #[serde(rename = "expiresAt")]
    expires_at_camel: Option<Timestamp>,
}

/// Send a round heartbeat
///
/// A device says it is still working on a round and hears where the round stands: its
/// status, whether the device joined and its update is in, and how many updates the round
/// has. Nothing is written.
#[utoipa::path(post, path = crate::routes::FROM_TABLE,
    tag = "federation",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    request_body(content = Option<RoundHeartbeat>, description = "Optional with a device key."),
    responses(
        (status = 200, description = "Where the device stands.", body = RoundStanding),
        (status = 404, description = "No such round or device that the key can see."),
    ),
)]
pub async fn record_round_heartbeat(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: RoundHeartbeat = parse_json_object(&body)?.unwrap_or_default();
    let named = either_name(request.device_id, request.device_id_camel)?;
    let reference = path.into_inner();
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    let acting = Acting { credential, named };
    let found = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        federation::standing(conn, &acting, &reference)
    })
    .await?;
    let round = found.round;
    Ok(HttpResponse::Ok().json(RoundStanding {
        round_id_camel: round.id.clone(),
        updates_received: found.updates_received,
        round_id: round.id,
        status: round.status,
        joined: found.participation.joined_at.is_some(),
        update_received: found.participation.update_received,
        min_devices: round.min_devices,
        expires_at: round.deadline_at,
        expires_at_camel: round.deadline_at,
    }))
}
