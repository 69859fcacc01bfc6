//! `POST /api/v1/training/rounds/{round_id}/join`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::RoundBody;
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::{DeviceIdentifier, KeyKind, Timestamp};
use crate::error::ApiError;
use crate::routes::{one_identifier, parse_json_object};
use crate::state::AppState;
use crate::store::rounds::{self, Join};

pub const ACCESS: Access = Access {
    action: "joining a training round",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::BodyDevice,
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

    let acting = Acting {
        credential,
        named: named.map(String::from),
    };
    let command = Join {
        round: path.into_inner(),
        federated: None,
    };
    let now = state.clock.now();
    let joined = state
        .db
        .write(move |tx| rounds::join(tx, &acting, &command, now))
        .await?;
    let device = joined.device;
    let participation = Participation {
        round_id: joined.round.id.clone(),
        round_number: joined.round.number,
        id: device.id,
        device_id: device.identifier.clone(),
        device_identifier: device.identifier,
        joined_at: joined.joined_at,
        round: joined.round.into(),
    };
    Ok(HttpResponse::Ok().json(participation))
}
