//! `GET /api/v1/training/rounds/{round_id}/result`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::federation::ALGORITHM;
use crate::state::AppState;
use crate::store::{federation, rounds};

pub const ACCESS: Access = Access {
    action: "reading a training round's result",
    allows: &[Allow::Secret, Allow::Device],
    target: Target::Org,
};

/// A completed round's FedAvg result.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "round_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "participants": 3,
    "sample_count": 100,
    "aggregate": [-0.162, 0.052, 0.107, 0.054],
    "algorithm": "fedavg",
    "completed_at": "2026-02-23T17:00:00Z"
})))]
struct RoundResultBody {
    #[schema(format = Uuid)]
    round_id: String,
    /// Devices whose update is in the aggregate.
    participants: u64,
    /// The sum of the updates' weights (`meta.sample_count`, else 1 each).
    sample_count: u64,
    /// The weighted mean of the updates, element by element.
    aggregate: Vec<f64>,
    /// `fedavg`.
    algorithm: &'static str,
    completed_at: Option<Timestamp>,
}

/// Retrieve a training round's result
///
/// The FedAvg aggregate kept when the round completed (at `min_devices` updates, at its
/// deadline, or by the operator): the mean of the completed `plaintext_json` updates
/// weighted by their `sample_count`. An active round is a 409 saying how many updates are
/// in; a cancelled one, or one that completed with no update, has none (404).
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "training rounds",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    responses(
        (status = 200, description = "The result.", body = RoundResultBody),
        (status = 404, description = "No such round that the key can see, or it has no \
            result (cancelled, or completed with no update)."),
        (status = 409, description = "The round is still active."),
    ),
)]
pub async fn get_round_result(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let reference = path.into_inner();
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    let result = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        federation::result(conn, &credential, &reference)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RoundResultBody {
        round_id: result.round_id,
        participants: result.participants,
        sample_count: result.sample_count,
        aggregate: result.aggregate,
        algorithm: ALGORITHM,
        completed_at: result.completed_at,
    }))
}
