//! Training rounds: an org starts a round, its devices learn of it from their heartbeat
//! (or by polling the list), join it, and the org completes or cancels it.
//!
//! Who may do what: the org's secret key manages rounds and sees all of them; a device key
//! sees and joins only the rounds its device may take part in (its org's, aimed at its
//! platform or at every platform), and any other round is a 404 to it; a publishable key
//! has no business here (403).

pub mod cancel;
pub mod complete;
pub mod federated;
pub mod federated_join;
pub mod get;
pub mod heartbeat;
pub mod join;
pub mod list;
pub mod offers;
pub mod plan;
pub mod result;
pub mod round_offers;
pub mod start;
pub mod status;
pub mod upload_complete;
pub mod upload_initiate;
pub mod upload_part;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Caller, Credential};
use crate::domain::{ModelId, OrgId, Platform, RoundStatus, Timestamp};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::{devices, federation, rounds};

/// A training round as every endpoint shows it.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "org_id": "org_demo",
    "number": 18,
    "model_id": "keyboard-next-word-v3",
    "platforms": ["ios", "android"],
    "base_version": "1.0.0",
    "min_devices": 10,
    "deadline_at": null,
    "plan_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "status": "active",
    "participant_count": 0,
    "created_at": "2026-02-23T16:30:00Z",
    "updated_at": "2026-02-23T16:30:00Z",
    "ended_at": null
})))]
pub struct RoundBody {
    #[schema(format = Uuid)]
    id: String,
    org_id: OrgId,
    /// 1, 2, 3, … within the org; usable in paths instead of `id`.
    #[schema(minimum = 1)]
    number: i64,
    #[schema(value_type = Option<ModelId>)]
    model_id: Option<String>,
    /// The version of `model_id` devices train from; null if the round names none.
    base_version: Option<String>,
    /// The platforms the round wants; empty means every platform.
    platforms: Vec<Platform>,
    /// How many updates complete the round; null if it names none.
    #[schema(minimum = 1, maximum = 1_000_000)]
    min_devices: Option<u32>,
    /// When the round completes with the updates it has; null for no deadline.
    deadline_at: Option<Timestamp>,
    /// The id of the round's training plan (`GET /api/v1/federation/plans/{plan_id}`).
    #[schema(format = Uuid)]
    plan_id: String,
    status: RoundStatus,
    /// Devices that joined.
    participant_count: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// When it was completed or cancelled; null while active.
    ended_at: Option<Timestamp>,
}

impl From<rounds::Round> for RoundBody {
    fn from(round: rounds::Round) -> Self {
        RoundBody {
            plan_id: round.id.clone(),
            id: round.id,
            org_id: round.org_id,
            number: round.number,
            model_id: round.model_id,
            base_version: round.base_version,
            platforms: round.platforms,
            min_devices: round.min_devices,
            deadline_at: round.deadline_at,
            status: round.status,
            participant_count: round.participant_count,
            created_at: round.created_at,
            updated_at: round.updated_at,
            ended_at: round.ended_at,
        }
    }
}

/// The 404 for a round the caller cannot see, whether it exists elsewhere or not at all.
pub(crate) fn round_not_found(reference: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no training round {} that this key can see",
        quoted(reference)
    ))
}

/// Whether `round` is aimed at devices of `platform`.
pub(crate) fn targets(round: &rounds::Round, platform: &Platform) -> bool {
    round.platforms.is_empty() || round.platforms.contains(platform)
}

/// The device whose key made the request, read on `conn`. A device key whose device is
/// gone is as good as unknown.
pub(crate) fn own_device(
    conn: &crate::store::Conn,
    credential: &Credential,
) -> Result<devices::Device, ApiError> {
    let id = credential.device_id.as_deref().unwrap_or_default();
    devices::find(conn, credential.org_id.as_str(), id)?
        .ok_or_else(|| ApiError::Unauthorized("the API key's device no longer exists".into()))
}

/// Appends an event about `round` (`round.started`, `round.completed`, ...), written in
/// the transaction that changed it.
fn round_event(
    conn: &crate::store::Conn,
    kind: &str,
    round: &rounds::Round,
) -> Result<i64, crate::store::StoreError> {
    let at = if kind == "round.started" {
        round.created_at
    } else {
        round.updated_at
    };
    crate::store::events::append(
        conn,
        &crate::store::events::NewEvent {
            org_id: round.org_id.as_str(),
            kind,
            device_id: None,
            at,
            data: &serde_json::json!({
                "round_id": round.id,
                "number": round.number,
                "model_id": round.model_id,
                "status": round.status.as_str(),
                "participant_count": round.participant_count,
            }),
        },
    )
}

/// Ends an active round as `status`; a round already ended is a 409 and stays as it was.
async fn end_round(
    access: &Access,
    state: web::Data<AppState>,
    caller: Caller,
    reference: String,
    status: RoundStatus,
) -> Result<HttpResponse, ApiError> {
    let credential = access.require(caller)?;
    crate::routes::rounds::federated::settle_due(&state, credential.org_id.as_str()).await?;
    let now = state.clock.now();
    let round = state
        .db
        .write(move |tx| {
            let round = rounds::find(tx, credential.org_id.as_str(), &reference)?
                .ok_or_else(|| round_not_found(&reference))?;
            // Completing keeps the FedAvg result of the updates that are in (issue 17).
            let ended = match status {
                RoundStatus::Completed => {
                    federation::complete(tx, &round, federation::Completion::Operator, now)?
                }
                _ => rounds::finish(tx, &round.id, status, now)?,
            };
            let ended = ended.ok_or_else(|| {
                ApiError::Conflict(format!(
                    "training round {} is already {}; only an active round can be {}",
                    round.number,
                    round.status.as_str(),
                    status.as_str()
                ))
            })?;
            // A completion's `round.completed` (with why and the result) is
            // federation::complete's; a cancellation's event is written here.
            if status == RoundStatus::Cancelled {
                round_event(tx, "round.cancelled", &ended)?;
            }
            Ok::<_, ApiError>(ended)
        })
        .await?;
    Ok(HttpResponse::Ok().json(RoundBody::from(round)))
}
