//! Training rounds and federation: an org starts a round, its devices learn of it from
//! their heartbeat (or by polling the list, or the SDKs' offers), join it, fetch its plan,
//! upload their updates in parts into its FedAvg, and the org completes or cancels it
//! (`federated.rs` holds what the SDKs' federation paths share).
//!
//! Who may do what: the org's secret key manages rounds and sees all of them; a device key
//! sees and joins only the rounds its device may take part in (its org's, aimed at its
//! platform or at every platform), and any other round is a 404 to it; a publishable key
//! has no business here (403).

pub mod assignment;
pub mod cancel;
pub mod complete;
pub mod federated;
pub mod federated_join;
// issue 27 (sdk3): the browser's federation paths and the legacy weight upload.
pub mod federation_current;
pub mod federation_join;
pub mod federation_submit;
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
pub mod weights;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Caller};
use crate::domain::{ModelId, OrgId, Platform, RoundStatus, Timestamp};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::devices::NotActing;
use crate::store::federation::{self, Discard};
use crate::store::rounds::{self, Refusal};

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

/// Ends an active round as `status`; a round already ended is a 409 and stays as it was.
async fn end_round(
    access: &Access,
    state: web::Data<AppState>,
    caller: Caller,
    reference: String,
    status: RoundStatus,
) -> Result<HttpResponse, ApiError> {
    let credential = access.require(caller)?;
    let now = state.clock.now();
    let round = state
        .db
        .write(move |tx| rounds::end(tx, &credential, &reference, status, now))
        .await?;
    Ok(HttpResponse::Ok().json(RoundBody::from(round)))
}

/// The answer to a round operation's refusal.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound(reference) => ApiError::NotFound(format!(
                "no training round {} that this key can see",
                quoted(&reference)
            )),
            Refusal::NoVersion { model, version } => ApiError::NotFound(format!(
                "no version {} of model {} in this key's org: add it with POST \
                 /api/v1/models/{{model_id}}/versions first",
                quoted(&version),
                quoted(&model)
            )),
            Refusal::Ended {
                number,
                status,
                doing,
            } => ApiError::Conflict(format!(
                "training round {number} is {}; only an active round can be {doing}",
                status.as_str()
            )),
            Refusal::AlreadyEnded {
                number,
                status,
                ending,
            } => ApiError::Conflict(format!(
                "training round {number} is already {}; only an active round can be {}",
                status.as_str(),
                ending.as_str()
            )),
            Refusal::WrongPlatform {
                number,
                platforms,
                device,
                platform,
            } => {
                let platforms: Vec<&str> = platforms.iter().map(Platform::as_str).collect();
                ApiError::Conflict(format!(
                    "training round {number} is for {} devices; device {} is {}",
                    platforms.join(", "),
                    quoted(device.as_str()),
                    platform.as_str()
                ))
            }
            Refusal::UpdateSent { device, number } => ApiError::Conflict(format!(
                "device {} has already sent its update to training round {number}",
                quoted(device.as_str())
            )),
            Refusal::OtherParticipation {
                device,
                number,
                participation_id,
            } => ApiError::Conflict(format!(
                "device {} already joined training round {number} as participation {}; \
                 upload under that participation_id",
                quoted(device.as_str()),
                quoted(&participation_id)
            )),
            Refusal::NotActing(refusal) => not_acting(refusal),
            Refusal::Store(err) => err.into(),
        }
    }
}

/// The answer to a federation operation's refusal.
impl From<federation::Refusal> for ApiError {
    fn from(refusal: federation::Refusal) -> Self {
        use federation::Refusal as R;
        match refusal {
            R::Round(refusal) => refusal.into(),
            R::NotJoined {
                device,
                number,
                round_id,
            } => ApiError::Conflict(format!(
                "device {} has not joined training round {number}: join it first (POST \
                 /api/v1/federation/rounds/{round_id}/join)",
                quoted(device.as_str())
            )),
            R::WrongParticipation {
                named,
                device,
                number,
            } => ApiError::Conflict(format!(
                "participation_id {} is not the one device {} joined training round {number} \
                 with",
                quoted(&named),
                quoted(device.as_str())
            )),
            R::UploadNotFound(upload_id) => ApiError::NotFound(format!(
                "no upload {} in progress for this key's device",
                quoted(&upload_id)
            )),
            R::NoSuchPart {
                upload_id,
                part,
                last,
            } => ApiError::NotFound(format!(
                "upload {} has parts 0 to {last}; there is no part {}",
                quoted(&upload_id),
                quoted(&part)
            )),
            R::UploadTooLarge {
                upload_id,
                total,
                max_bytes,
            } => ApiError::PayloadTooLarge(format!(
                "with this part upload {} would hold {total} bytes; an upload may hold at \
                 most {max_bytes} bytes (--upload-max-bytes)",
                quoted(&upload_id)
            )),
            R::MissingPart {
                upload_id,
                part,
                last,
            } => ApiError::BadRequest(format!(
                "part {part} of upload {} (parts 0 to {last}) was never uploaded: PUT it to its \
                 part URL, then complete again",
                quoted(&upload_id)
            )),
            R::UploadSampleCount(why) => {
                ApiError::BadRequest(format!("the upload's meta.sample_count {why}"))
            }
            R::DeviceUploadsFull { device, open, cap } => ApiError::Conflict(format!(
                "device {device} has {open} uploads open, the most a device may \
                 (--uploads-per-device {cap}): complete one, or wait until an abandoned one \
                 is reclaimed (--upload-abandon-after)"
            )),
            R::RoundUploadsFull { number, cap } => ApiError::RateLimited {
                message: format!(
                    "training round {number} has {cap} uploads open, the most a round may \
                     (--uploads-per-round); retry in 60 s"
                ),
                retry_after_secs: 60,
            },
            R::StillActive {
                number,
                received,
                min_devices,
            } => {
                let wanted = min_devices.map_or(String::new(), |m| format!(" of the {m} it wants"));
                ApiError::Conflict(format!(
                    "training round {number} is still active with {received} update(s){wanted}; \
                     its result is kept when it completes"
                ))
            }
            R::NoResult { number, status } => ApiError::NotFound(format!(
                "training round {number} is {} with no update: it has no result",
                status.as_str()
            )),
            R::NotActing(refusal) => not_acting(refusal),
            R::Store(err) => err.into(),
        }
    }
}

/// The answer to an update refused once its upload was opened (and deleted).
impl From<Discard> for ApiError {
    fn from(discard: Discard) -> Self {
        match discard {
            Discard::Envelope(why) => ApiError::BadRequest(why),
            Discard::Length {
                got,
                expected,
                number,
            } => ApiError::BadRequest(format!(
                "the update has {got} numbers but training round {number}'s updates have \
                 {expected}: every update of a round must be as long"
            )),
            Discard::AlreadyReceived { number } => ApiError::Conflict(format!(
                "training round {number} already has this device's update"
            )),
            Discard::Overflow(why) => ApiError::BadRequest(why),
        }
    }
}

/// The one-device rule's answer, except that an org key naming no device hears what the
/// round endpoints have always said.
fn not_acting(refusal: NotActing) -> ApiError {
    match refusal {
        NotActing::Unnamed => ApiError::BadRequest(
            "device_id is required with the org's secret key: the device (its identifier or \
             its id) the request is for"
                .to_owned(),
        ),
        other => other.into(),
    }
}

// issue 27 (sdk3): the browser's federation paths and /training/weights.
impl From<crate::store::federation_shapes::Refusal> for ApiError {
    fn from(refusal: crate::store::federation_shapes::Refusal) -> Self {
        use crate::store::federation_shapes::Refusal as R;
        match refusal {
            R::NoActiveRound {
                model,
                device: Some(device),
            } => ApiError::NotFound(format!(
                "no active training round on model {} for device {device}: the operator \
                 starts one with POST /api/v1/training/rounds naming the model",
                quoted(&model)
            )),
            R::NoActiveRound {
                model,
                device: None,
            } => ApiError::NotFound(format!(
                "no active training round on model {}: the operator starts one with POST \
                 /api/v1/training/rounds naming the model",
                quoted(&model)
            )),
            R::OtherFederation { number, federation } => ApiError::NotFound(format!(
                "training round {number} is not a round of federation {}: a federation is \
                 the model its rounds train",
                quoted(&federation)
            )),
            R::Discarded(why) => why.into(),
            R::Federation(refusal) => refusal.into(),
        }
    }
}
