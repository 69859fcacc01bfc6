//! `POST /api/v1/training/rounds/{round_id}/join`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{RoundBody, own_device, round_not_found, targets};
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{DeviceIdentifier, KeyKind, RoundStatus, Timestamp};
use crate::error::ApiError;
use crate::routes::{device_not_found, one_identifier, parse_json_object};
use crate::state::AppState;
use crate::store::events::{self, NewEvent};
use crate::store::{devices, rounds};

pub const ACCESS: Access = Access {
    action: "joining a training round",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::OwnDevice,
};

/// The device that joins. Required with the org's secret key; a device key joins its own
/// device and may send an empty body. When both names are sent they must be equal.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"device_id": "laptop-001"})))]
struct JoinRequest {
    /// The device's identifier or its `id`.
    device_id: Option<DeviceIdentifier>,
    /// The same, under the SDKs' name.
    device_identifier: Option<DeviceIdentifier>,
}

/// A device's part in a round.
#[derive(Serialize, ToSchema)]
struct Participation {
    #[schema(format = Uuid)]
    round_id: String,
    #[schema(minimum = 1)]
    round_number: i64,
    /// The device's server UUID, as in the heartbeat's path.
    #[schema(format = Uuid)]
    id: String,
    device_id: DeviceIdentifier,
    device_identifier: DeviceIdentifier,
    /// When the device first joined.
    joined_at: Timestamp,
    round: RoundBody,
}

/// Join a training round
///
/// Records that a device takes part in an active round. Joining again changes nothing;
/// joining a completed or cancelled round is a 409. With the org's secret key the body
/// names the device.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "training rounds",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    request_body(content = JoinRequest, description = "The device that joins."),
    responses(
        (status = 200, description = "Joined.", body = Participation),
        (status = 400, description = "The body is not a JSON object, a field is invalid, or \
            the secret key named no device."),
        (status = 401, description = "No key, or a malformed, unknown or revoked one; or a \
            device key whose device is gone."),
        (status = 404, description = "No such round or device that the key can see."),
        (status = 409, description = "The round has ended, or is not for the device's \
            platform."),
    ),
)]
pub async fn join_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: JoinRequest = parse_json_object(&body)?.unwrap_or_default();
    let named = one_identifier(request.device_id, request.device_identifier)?;
    if credential.kind == KeyKind::Secret && named.is_none() {
        return Err(ApiError::BadRequest(
            "device_id is required with the org's secret key: the device (its identifier or \
             its id) that joins the round"
                .to_owned(),
        ));
    }

    let reference = path.into_inner();
    let now = state.clock.now();
    let participation = state
        .db
        .write(move |tx| {
            let org_id = credential.org_id.as_str();
            let device = match (credential.kind, named) {
                // The own-device rule: a device key joins its own device only.
                (KeyKind::Device, named) => {
                    let device = own_device(tx, &credential)?;
                    if let Some(named) = named
                        && named.as_str() != device.id
                        && named != device.identifier
                    {
                        return Err(device_not_found(named.as_str()));
                    }
                    device
                }
                (_, named) => {
                    let named = named.expect("checked above: the secret key names a device");
                    devices::find(tx, org_id, named.as_str())?
                        .ok_or_else(|| device_not_found(named.as_str()))?
                }
            };
            let round =
                rounds::find(tx, org_id, &reference)?.ok_or_else(|| round_not_found(&reference))?;
            if !targets(&round, &device.platform) {
                // A device key cannot see a round that is not for its platform.
                return Err(if credential.kind == KeyKind::Device {
                    round_not_found(&reference)
                } else {
                    let platforms: Vec<&str> = round.platforms.iter().map(|p| p.as_str()).collect();
                    ApiError::Conflict(format!(
                        "training round {} is for {} devices; device {} is {}",
                        round.number,
                        platforms.join(", "),
                        crate::routes::quoted(device.identifier.as_str()),
                        device.platform.as_str()
                    ))
                });
            }
            if round.status != RoundStatus::Active {
                return Err(ApiError::Conflict(format!(
                    "training round {} is {}; only an active round can be joined",
                    round.number,
                    round.status.as_str()
                )));
            }
            let (joined_at, joined_now) = rounds::join(tx, &round.id, &device.id, now)?;
            if joined_now {
                events::append(
                    tx,
                    &NewEvent {
                        org_id,
                        kind: "round.joined",
                        device_id: Some(&device.id),
                        at: now,
                        data: &serde_json::json!({
                            "round_id": round.id,
                            "round_number": round.number,
                            "device_id": device.identifier.as_str(),
                        }),
                    },
                )?;
            }
            let round = rounds::find(tx, org_id, &round.id)?
                .expect("the round was read in this transaction");
            Ok(Participation {
                round_id: round.id.clone(),
                round_number: round.number,
                id: device.id,
                device_id: device.identifier.clone(),
                device_identifier: device.identifier,
                joined_at,
                round: round.into(),
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(participation))
}
