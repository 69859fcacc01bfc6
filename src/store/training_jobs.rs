//! Node's and the browser's training jobs (`/api/v1/devices/{id}/training-jobs*`,
//! `TrainingClient`, untyped on their side) over the same rounds: a job is a device's
//! part in a round, and its id is the round's. Creating one joins the round the request
//! names, or the first round offered to the device; its update goes through the
//! federation upload paths like every other. No HTTP here.

use super::federation::{self, Refusal, Standing};
use super::rounds::{self, Join, Joined, Participating};
use super::{Conn, StoreError};
use crate::domain::{Acting, Timestamp};

/// Why a job was not created, beyond a round's own refusals.
#[derive(Debug, thiserror::Error)]
pub enum JobRefusal {
    /// The request named no round and none is offered to the device.
    #[error("no training round is offered to this device")]
    NothingOffered,
    #[error(transparent)]
    Round(#[from] Refusal),
}

impl super::Failure for JobRefusal {
    fn is_database_failure(&self) -> bool {
        match self {
            JobRefusal::NothingOffered => false,
            JobRefusal::Round(e) => e.is_database_failure(),
        }
    }
}

impl From<StoreError> for JobRefusal {
    fn from(e: StoreError) -> Self {
        JobRefusal::Round(Refusal::from(e))
    }
}

impl From<rounds::Refusal> for JobRefusal {
    fn from(e: rounds::Refusal) -> Self {
        JobRefusal::Round(Refusal::Round(e))
    }
}

/// Joins the device `acting` names to `round` (its id or number), or to the first round
/// offered to it, as the federation paths' join does (capabilities kept).
pub fn create(
    conn: &Conn,
    acting: &Acting,
    round: Option<&str>,
    capabilities_json: String,
    now: Timestamp,
) -> Result<Joined, JobRefusal> {
    let round = match round {
        Some(round) => round.to_owned(),
        None => federation::offers(conn, acting, now)?
            .into_iter()
            .map(|(round, _)| round.id)
            .next()
            .ok_or(JobRefusal::NothingOffered)?,
    };
    let command = Join {
        round,
        federated: Some(Participating {
            participation_id: None,
            capabilities_json,
        }),
    };
    Ok(rounds::join(conn, acting, &command, now)?)
}

/// Where the device stands in the job's round ([`federation::standing`]).
pub fn status(conn: &Conn, acting: &Acting, job_id: &str) -> Result<Standing, Refusal> {
    federation::standing(conn, acting, job_id)
}
