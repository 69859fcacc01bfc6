//! `POST /api/v1/devices/{device_id}/training-jobs`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::desired_state::DEVICE_STATE;
use crate::auth::{Access, Caller, Target};
use crate::domain::{RoundStatus, Timestamp};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::training_jobs;

pub const ACCESS: Access = Access {
    action: "creating a training job",
    allows: DEVICE_STATE,
    target: Target::PathDevice,
};

/// Node's and the browser's `createJob(request)` send any object (node training.ts:22-30);
/// these members are read.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"round_id": "1", "capabilities": {"cpu": "4-core"}})))]
struct CreateJob {
    /// The round to join, by id or number; default the first round offered to the device.
    round_id: Option<String>,
    #[serde(rename = "roundId")]
    round_id_camel: Option<String>,
    /// Kept with the participation, unread.
    capabilities: Option<Map<String, Value>>,
}

#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "0190f5a0-0000-7000-8000-0000000000a1",
    "job_id": "0190f5a0-0000-7000-8000-0000000000a1",
    "round_id": "0190f5a0-0000-7000-8000-0000000000a1",
    "plan_id": "0190f5a0-0000-7000-8000-0000000000a1",
    "participation_id": "9d2c1a7b5e3f4a6c8b0d2e4f6a8c0e1b",
    "device_id": "0190f5a0-0000-7000-8000-000000000001", "status": "joined",
    "round_status": "active", "model_id": "kbd-next-word", "base_version": "1.0.0",
    "joined_at": "2026-02-23T16:30:00Z", "expires_at": null
})))]
struct Job {
    /// The round's id, also `job_id`.
    id: String,
    job_id: String,
    round_id: String,
    plan_id: String,
    /// What the upload paths take as `participation_id`.
    participation_id: Option<String>,
    device_id: String,
    /// `joined`.
    status: &'static str,
    round_status: RoundStatus,
    model_id: Option<String>,
    base_version: Option<String>,
    joined_at: Timestamp,
    expires_at: Option<Timestamp>,
}

/// Create a training job
///
/// Joins the device to the round `round_id` names, or to the first round offered to it
/// (as `GET /api/v1/federation/offers` lists them): a job is the device's part in that
/// round, and its id is the round's. It then trains with the round's plan and sends its
/// update through the federation upload paths. Joining again changes nothing. Nothing
/// offered, an ended round, or one the device already sent its update to is a 409.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's UUID `id` or its identifier.")),
    request_body(content = Option<CreateJob>, description = "Optional."),
    responses(
        (status = 201, description = "Joined.", body = Job),
        (status = 409, description = "Nothing is offered, the round ended, or it has the \
            device's update."),
    ),
)]
pub async fn create_training_job(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let request: CreateJob = parse_json_object(&body)?.unwrap_or_default();
    let round =
        crate::routes::rounds::federated::either_name(request.round_id, request.round_id_camel)?;
    let capabilities = Value::Object(request.capabilities.unwrap_or_default()).to_string();
    let now = state.clock.now();
    let joined = state
        .db
        .write(move |tx| training_jobs::create(tx, &acting, round.as_deref(), capabilities, now))
        .await?;
    let round = joined.round;
    Ok(HttpResponse::Created().json(Job {
        id: round.id.clone(),
        job_id: round.id.clone(),
        plan_id: round.id.clone(),
        round_id: round.id,
        participation_id: joined.participation_id,
        device_id: joined.device.id,
        status: "joined",
        round_status: round.status,
        model_id: round.model_id,
        base_version: round.base_version,
        joined_at: joined.joined_at,
        expires_at: round.deadline_at,
    }))
}
