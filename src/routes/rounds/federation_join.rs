//! `POST /api/v1/federations/{federation_id}/rounds/{round_id}/join` (the browser SDK's
//! `FederatedClient.joinRound`)

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::federation_shapes;

pub const ACCESS: Access = Access {
    action: "joining a training round",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::BodyDevice,
};

/// The browser's `{device_id}`; optional with a device key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = BrowserFederationJoinRequest, examples(json!({"device_id": "browser-install-1"})))]
struct JoinRequest {
    /// The device (its identifier or `id`); required with the secret key.
    device_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = BrowserFederationJoined)]
struct Joined {
    #[schema(format = Uuid)]
    round_id: String,
    round_number: i64,
    /// The device's server UUID.
    #[schema(format = Uuid)]
    device_id: String,
    /// `joined`.
    status: &'static str,
    joined_at: Timestamp,
}

/// Join a federation's round
///
/// The device takes part in an active round of the federation (the model the round
/// trains), as through `POST /api/v1/training/rounds/{round_id}/join`: joining again
/// changes nothing. The browser reads only the status.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "federation",
    params(
        ("federation_id" = String, Path, min_length = 1, description = "The model the rounds train."),
        ("round_id" = String, Path, min_length = 1,
            description = "The round's `id`, or its `number` in the org."),
    ),
    request_body(content = Option<JoinRequest>, description = "Optional with a device key."),
    responses(
        (status = 200, description = "Joined.", body = Joined),
        (status = 404, description = "No such round of that federation that the device may join."),
        (status = 409, description = "The round has ended, or already has the device's update."),
    ),
)]
pub async fn join_federation_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: JoinRequest = parse_json_object(&body)?.unwrap_or_default();
    let acting = Acting {
        credential,
        named: request.device_id.filter(|d| !d.is_empty()),
    };
    let ((federation, round), now) = (path.into_inner(), state.clock.now());
    let joined = state
        .db
        .write(move |tx| federation_shapes::join(tx, &acting, &federation, &round, now))
        .await?;
    Ok(HttpResponse::Ok().json(Joined {
        round_id: joined.round.id,
        round_number: joined.round.number,
        device_id: joined.device.id,
        status: "joined",
        joined_at: joined.joined_at,
    }))
}
