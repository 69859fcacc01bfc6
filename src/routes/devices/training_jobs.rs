//! What the three training-job operations share: a job's standing as Node's and the
//! browser's `TrainingClient` read it (untyped: any JSON object), and the answers for a
//! job not created.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{RoundStatus, Timestamp};
use crate::error::ApiError;
use crate::store::federation::Standing;
use crate::store::training_jobs::JobRefusal;

/// A device's part in a round, as a training job.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "job_id": "0190f5a0-0000-7000-8000-0000000000a1",
    "round_id": "0190f5a0-0000-7000-8000-0000000000a1",
    "plan_id": "0190f5a0-0000-7000-8000-0000000000a1",
    "status": "joined", "round_status": "active", "joined": true, "update_received": false,
    "updates_received": 1, "min_devices": 3, "expires_at": "2026-02-23T17:30:00Z"
})))]
pub struct JobStanding {
    /// The round's id: a job is a device's part in that round.
    job_id: String,
    round_id: String,
    /// Where to read the training plan: `GET /api/v1/federation/plans/{plan_id}`.
    plan_id: String,
    /// `joined`, `update_received`, or the round's end (`completed`, `cancelled`).
    status: &'static str,
    round_status: RoundStatus,
    joined: bool,
    update_received: bool,
    /// Updates the round has from all its devices.
    updates_received: u64,
    min_devices: Option<u32>,
    expires_at: Option<Timestamp>,
}

impl From<Standing> for JobStanding {
    fn from(standing: Standing) -> Self {
        let round = standing.round;
        let status = match round.status {
            RoundStatus::Completed => "completed",
            RoundStatus::Cancelled => "cancelled",
            RoundStatus::Active if standing.participation.update_received => "update_received",
            RoundStatus::Active if standing.participation.joined_at.is_some() => "joined",
            RoundStatus::Active => "not_joined",
        };
        JobStanding {
            job_id: round.id.clone(),
            plan_id: round.id.clone(),
            round_id: round.id,
            status,
            round_status: round.status,
            joined: standing.participation.joined_at.is_some(),
            update_received: standing.participation.update_received,
            updates_received: standing.updates_received,
            min_devices: round.min_devices,
            expires_at: round.deadline_at,
        }
    }
}

impl From<JobRefusal> for ApiError {
    fn from(refusal: JobRefusal) -> Self {
        match refusal {
            JobRefusal::NothingOffered => ApiError::Conflict(
                "no training round is offered to this device: name one with round_id, or \
                 start one (POST /api/v1/training/rounds)"
                    .to_owned(),
            ),
            JobRefusal::Round(refusal) => refusal.into(),
        }
    }
}
