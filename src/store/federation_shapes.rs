//! Issue 27: the other shapes of the federation calls, over the same rounds and FedAvg:
//! the browser SDK's `/federations/{federation_id}/rounds/…` (a federation is the model a
//! round trains) and the legacy `POST /training/weights` (Python `FederatedClient`, iOS,
//! Android), which names a model rather than a round.
//!
//! An update sent whole in one request goes through exactly the steps of an upload in
//! parts (`federation::initiate_upload`, `put_part`, `upload_parts`, `complete_upload`)
//! in one transaction, as a one-part `plaintext_json` envelope: the same participation
//! checks, clipping, length check, events and completion at `min_devices`; a refused
//! update rolls back and leaves nothing.

use sha2::{Digest, Sha256};

use super::acting::{self, NotActing};
use super::federation::{
    self, Accepted, CompleteUpload, Completed, Discard, InitiateUpload, Part, UploadRef,
};
use super::rounds::{self, Join, ListRounds, Plan, Round};
use super::{Conn, Failure, StoreError};
use crate::domain::{Acting, DeviceIdentifier, RoundStatus, Timestamp};

/// Why a federation-shape operation refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No active round on the model (federation) the caller may take part in.
    #[error("no active training round on model {model}")]
    NoActiveRound {
        model: String,
        device: Option<DeviceIdentifier>,
    },
    /// The round exists but trains another model than the federation named.
    #[error("training round {number} is not of federation {federation}")]
    OtherFederation { number: i64, federation: String },
    /// The update was refused once opened (nothing was kept).
    #[error("the update was refused")]
    Discarded(Discard),
    #[error(transparent)]
    Federation(#[from] federation::Refusal),
}

impl From<rounds::Refusal> for Refusal {
    fn from(e: rounds::Refusal) -> Self {
        Refusal::Federation(e.into())
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Federation(e.into())
    }
}

impl From<NotActing> for Refusal {
    fn from(e: NotActing) -> Self {
        Refusal::Federation(e.into())
    }
}

impl Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        matches!(self, Refusal::Federation(e) if e.is_database_failure())
    }
}

/// The newest active round on model `federation` that the caller may take part in (with
/// a device credential, or a device named: one aimed at its platform), and its plan,
/// after settling the org's due rounds.
pub fn current(
    conn: &Conn,
    acting: &Acting,
    federation: &str,
    now: Timestamp,
) -> Result<(Round, Plan), Refusal> {
    rounds::settle_due(conn, acting.org_id(), now)?;
    let round = newest_on(conn, acting, federation)?;
    let plan = rounds::plan_of(conn, &round.id)?;
    Ok((round, plan))
}

fn newest_on(conn: &Conn, acting: &Acting, model: &str) -> Result<Round, Refusal> {
    let query = ListRounds {
        status: Some(RoundStatus::Active),
        limit: 1000,
        offset: 0,
    };
    let (active, _) = rounds::list(conn, acting, &query)?;
    match active
        .into_iter()
        .filter(|r| r.model_id.as_deref() == Some(model))
        .max_by_key(|r| r.number)
    {
        Some(round) => Ok(round),
        None => {
            let device = match (&acting.named, acting.credential.own_device()) {
                (None, None) => None,
                _ => Some(acting::acting_device(conn, acting)?.identifier),
            };
            Err(Refusal::NoActiveRound {
                model: model.to_owned(),
                device,
            })
        }
    }
}

/// The round `reference` of `federation` for the device `acting` names: another model's
/// round is [`Refusal::OtherFederation`].
fn federation_round(
    conn: &Conn,
    acting: &Acting,
    federation: &str,
    reference: &str,
) -> Result<Round, Refusal> {
    let device = acting::acting_device(conn, acting)?;
    let round = rounds::for_device(conn, &device, reference)?;
    if round.model_id.as_deref() != Some(federation) {
        return Err(Refusal::OtherFederation {
            number: round.number,
            federation: federation.to_owned(),
        });
    }
    Ok(round)
}

/// The device `acting` names joins round `reference` of `federation` (as
/// `rounds::join` through the training path: once, `round.joined`).
pub fn join(
    conn: &Conn,
    acting: &Acting,
    federation: &str,
    reference: &str,
    now: Timestamp,
) -> Result<rounds::Joined, Refusal> {
    rounds::settle_due(conn, acting.org_id(), now)?;
    let round = federation_round(conn, acting, federation, reference)?;
    let command = Join {
        round: round.id,
        federated: None,
    };
    Ok(rounds::join(conn, acting, &command, now)?)
}

/// Which round an update is for.
#[derive(Debug, Clone)]
pub enum UpdateFor {
    /// The browser's: round `round` of federation (model) `federation`, which the device
    /// joined.
    Round { federation: String, round: String },
    /// `/training/weights`: the newest active round on the model, joined if need be.
    Model(String),
}

/// An update sent whole.
#[derive(Debug)]
pub struct Submit {
    pub to: UpdateFor,
    pub update: Vec<f64>,
    /// The update's FedAvg weight (at least 1).
    pub sample_count: u64,
    pub per_device: u32,
    pub per_round: u32,
    pub max_bytes: u64,
}

/// Adds the device's update into its round as an upload in one part would (see the
/// module's note). A refused update is [`Refusal::Discarded`], and the transaction,
/// returning an error, keeps nothing.
pub fn submit(
    conn: &Conn,
    acting: &Acting,
    command: &Submit,
    now: Timestamp,
) -> Result<Accepted, Refusal> {
    rounds::settle_due(conn, acting.org_id(), now)?;
    let round = match &command.to {
        UpdateFor::Round { federation, round } => {
            federation_round(conn, acting, federation, round)?
        }
        UpdateFor::Model(model) => {
            let round = newest_on(conn, acting, model)?;
            let join = Join {
                round: round.id.clone(),
                federated: None,
            };
            rounds::join(conn, acting, &join, now)?;
            round
        }
    };
    // The handler read finite numbers, which always serialise.
    let data = serde_json::to_string(&command.update).expect("finite numbers serialise");
    let digest: String = Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let envelope = format!(
        "{{\"format\": \"{}\", \"sha256\": \"{digest}\", \"size\": {}, \"data\": {data}}}",
        crate::federation::PLAINTEXT_JSON,
        data.len()
    );
    let meta = serde_json::value::RawValue::from_string(format!(
        "{{\"sample_count\": {}}}",
        command.sample_count
    ))
    .expect("valid JSON");
    let upload_id = federation::initiate_upload(
        conn,
        acting,
        &InitiateUpload {
            round: round.id.clone(),
            participation_id: None,
            part_count: 1,
            meta,
            per_device: command.per_device,
            per_round: command.per_round,
        },
        now,
    )?;
    federation::put_part(
        conn,
        acting,
        &Part {
            upload_id: upload_id.clone(),
            part: "0".to_owned(),
            body: envelope.into_bytes(),
            max_bytes: command.max_bytes,
        },
        now,
    )?;
    let target = UploadRef {
        round: round.id,
        upload_id,
        sample_count: Some(command.sample_count),
    };
    // The one part was written by this transaction: read it back on the same connection.
    let opened = federation::upload_parts(conn, acting, &target, now)?
        .map(|parts| parts.open(|id, n| federation::part_body(conn, id, n)))
        .transpose()?;
    let complete = CompleteUpload { target, opened };
    match federation::complete_upload(conn, acting, &complete, now)? {
        Completed::Accepted(accepted) => Ok(accepted),
        Completed::Discarded(why) => Err(Refusal::Discarded(why)),
    }
}
