//! `GET /api/v1/training/rounds/{round_id}/status` (the legacy Python `FederatedClient`'s)

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{RoundStatus, Timestamp};
use crate::error::ApiError;
use crate::federation::ALGORITHM;
use crate::state::AppState;
use crate::store::{federation, rounds};

pub const ACCESS: Access = Access {
    action: "reading a training round",
    allows: &[Allow::Secret, Allow::Device],
    target: Target::Org,
};

/// What the legacy `FederatedClient.train_from_remote` reads: `config.model_id` and
/// `config.version` (the base version), beside the round's standing.
#[derive(Serialize, ToSchema)]
struct RoundStatusBody {
    #[schema(format = Uuid)]
    round_id: String,
    number: i64,
    status: RoundStatus,
    model_id: Option<String>,
    /// The base version.
    version: Option<String>,
    config: RoundConfig,
    participant_count: u64,
    updates_received: u64,
    min_devices: Option<u32>,
    deadline_at: Option<Timestamp>,
}

#[derive(Serialize, ToSchema)]
struct RoundConfig {
    model_id: Option<String>,
    version: Option<String>,
    min_devices: Option<u32>,
    /// `fedavg`.
    algorithm: &'static str,
}

/// Retrieve a training round's status
///
/// The legacy Python `FederatedClient`'s round lookup: the model and base version to
/// train, as `config.model_id` and `config.version`, and how far the round is. Its update
/// goes to `POST /api/v1/training/weights`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "training rounds",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    responses(
        (status = 200, description = "The round's status.", body = RoundStatusBody),
        (status = 404, description = "No such round that the key can see."),
    ),
)]
pub async fn get_round_status(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let reference = path.into_inner();
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    let (round, updates_received) = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        federation::round_status(conn, &credential, &reference)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RoundStatusBody {
        updates_received,
        config: RoundConfig {
            model_id: round.model_id.clone(),
            version: round.base_version.clone(),
            min_devices: round.min_devices,
            algorithm: ALGORITHM,
        },
        round_id: round.id,
        number: round.number,
        status: round.status,
        model_id: round.model_id,
        version: round.base_version,
        participant_count: round.participant_count,
        min_devices: round.min_devices,
        deadline_at: round.deadline_at,
    }))
}
