//! Federated rounds through the SDKs' paths: the offers a device sees, a round's training
//! plan and where a device stands in it, uploads in parts, accepted updates summed into
//! the round's FedAvg, and the kept result. A round's life (starting, joining, completing,
//! settling the due ones) is `store::rounds`'.
//!
//! The vectors are not kept one per device: each accepted update is added into
//! `round_aggregates.weighted_sum` in the transaction that accepts it, so completing a
//! round is one division, and the database holds one vector per round, not one per device.

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::acting::{self, NotActing};
use super::rounds::{self, Completion, Participation, Plan, Round};
use super::{Conn, Failure, StoreError, models};
use crate::domain::{
    Acting, Credential, DeviceIdentifier, DeviceStatus, RoundStatus, SampleCount, Timestamp,
};
use crate::federation;

/// Why a federation operation refused. Each variant carries what its sentence needs.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The round refused: not found, ended, the device's update in.
    #[error(transparent)]
    Round(#[from] rounds::Refusal),
    /// The device has not joined the round it sends an update to.
    #[error("device {device} has not joined training round {number}")]
    NotJoined {
        device: DeviceIdentifier,
        number: i64,
        round_id: String,
    },
    /// The participation id sent is not the one the device joined with.
    #[error("participation_id {named:?} is not the one device {device} joined with")]
    WrongParticipation {
        named: String,
        device: DeviceIdentifier,
        number: i64,
    },
    /// No upload by that id (as sent) in progress for the caller's device, or not in the
    /// round the request names.
    #[error("no upload {0:?} in progress for this key's device")]
    UploadNotFound(String),
    /// The upload has no part by that name (as sent); its parts are 0 to `last`.
    #[error("upload {upload_id:?} has no part {part:?}")]
    NoSuchPart {
        upload_id: String,
        part: String,
        last: i64,
    },
    /// With the part, the upload would hold `total` bytes, more than `max_bytes`.
    #[error("upload {upload_id:?} would hold {total} bytes")]
    UploadTooLarge {
        upload_id: String,
        total: u64,
        max_bytes: u64,
    },
    /// Part `part` of the upload (parts 0 to `last`) was never uploaded.
    #[error("part {part} of upload {upload_id:?} was never uploaded")]
    MissingPart {
        upload_id: String,
        part: i64,
        last: i64,
    },
    /// The upload's `meta.sample_count` is not a positive integer; why.
    #[error("the upload's meta.sample_count {0}")]
    UploadSampleCount(String),
    /// The device has `open` uploads in progress, the most it may (`cap`).
    #[error("device {device} has {open} uploads open")]
    DeviceUploadsFull {
        device: DeviceIdentifier,
        open: u64,
        cap: u32,
    },
    /// Round `number` has `cap` uploads in progress, the most it may.
    #[error("training round {number} has {cap} uploads open")]
    RoundUploadsFull { number: i64, cap: u32 },
    /// A result asked of a round still active, with `received` updates.
    #[error("training round {number} is still active")]
    StillActive {
        number: i64,
        received: u64,
        min_devices: Option<u32>,
    },
    /// A round that ended (as `status`) without an update has no result.
    #[error("training round {number} has no result")]
    NoResult { number: i64, status: RoundStatus },
    #[error(transparent)]
    NotActing(#[from] NotActing),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        match self {
            Refusal::Round(e) => e.is_database_failure(),
            Refusal::NotActing(e) => e.is_database_failure(),
            Refusal::Store(e) => e.is_database_failure(),
            _ => false,
        }
    }
}

/// The rounds offered to the device `acting` names (or its own): its org's active rounds
/// aimed at its platform, before their deadline, to which it has not sent an update,
/// oldest first, each with whether the device joined it. None for an inactive device. A
/// read: run it through [`rounds::settled_read`].
pub fn offers(conn: &Conn, acting: &Acting, now: Timestamp) -> Result<Vec<(Round, bool)>, Refusal> {
    let device = acting::acting_device(conn, acting)?;
    if device.status != DeviceStatus::Active {
        return Ok(Vec::new());
    }
    let org_id = device.org_id.as_str();
    let ids: Vec<(String, bool)> = conn.query_all(
        &format!(
            "SELECT r.id, EXISTS (SELECT 1 FROM round_participants AS p \
                                  WHERE p.round_id = r.id AND p.device_id = ?2) \
             FROM rounds AS r \
             WHERE r.org_id = ?1 AND r.status = 'active' AND {} AND {} \
             AND NOT EXISTS (SELECT 1 FROM round_updates AS u \
                             WHERE u.round_id = r.id AND u.device_id = ?2) \
             ORDER BY r.number LIMIT 100",
            rounds::targets_platform(3, conn.dialect()),
            rounds::before_deadline(4)
        ),
        &[&org_id, &device.id, &device.platform.as_str(), &now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, joined) in ids {
        if let Some(round) = rounds::find(conn, org_id, &id)? {
            out.push((round, joined));
        }
    }
    Ok(out)
}

/// A round's training plan and what the SDKs name its model by.
#[derive(Debug)]
pub struct TrainingPlan {
    pub round: Round,
    pub plan: Plan,
    /// The artifact of the round's base version, if it names one that exists.
    pub artifact_id: Option<String>,
}

/// The plan of the round `reference` names, as the caller sees it ([`rounds::get`]). A
/// read: run it through [`rounds::settled_read`].
pub fn training_plan(
    conn: &Conn,
    credential: &Credential,
    reference: &str,
) -> Result<TrainingPlan, Refusal> {
    let round = rounds::get(conn, credential, reference)?;
    let plan = rounds::plan_of(conn, &round.id)?;
    let artifact_id = match (&round.model_id, &round.base_version) {
        (Some(model), Some(version)) => {
            models::find_version(conn, round.org_id.as_str(), model, version)?
                .map(|v| v.artifact_id)
        }
        _ => None,
    };
    Ok(TrainingPlan {
        round,
        plan,
        artifact_id,
    })
}

/// Where a device stands in a round.
#[derive(Debug)]
pub struct Standing {
    pub round: Round,
    pub participation: Participation,
    /// Updates the round has accepted.
    pub updates_received: u64,
}

/// Where the device `acting` names (or its own) stands in the round `reference` names
/// for it ([`rounds::for_device`]). A read: run it through [`rounds::settled_read`].
pub fn standing(conn: &Conn, acting: &Acting, reference: &str) -> Result<Standing, Refusal> {
    let device = acting::acting_device(conn, acting)?;
    let round = rounds::for_device(conn, &device, reference)?;
    Ok(Standing {
        participation: rounds::participation(conn, &round.id, &device.id)?,
        updates_received: update_count(conn, &round.id)?,
        round,
    })
}

/// A round's standing for the legacy `FederatedClient`: the round as the caller sees it
/// ([`rounds::get`]) and how many updates it has. A read: run it through
/// [`rounds::settled_read`].
pub fn round_status(
    conn: &Conn,
    credential: &Credential,
    reference: &str,
) -> Result<(Round, u64), Refusal> {
    let round = rounds::get(conn, credential, reference)?;
    let received = update_count(conn, &round.id)?;
    Ok((round, received))
}

/// A completed round's kept FedAvg result.
#[derive(Debug)]
pub struct RoundResult {
    pub round_id: String,
    pub participants: u64,
    pub sample_count: u64,
    pub aggregate: Vec<f64>,
    pub completed_at: Option<Timestamp>,
}

/// The kept result of the round `reference` names, as the caller sees it
/// ([`rounds::get`]): [`Refusal::StillActive`] while it is active, [`Refusal::NoResult`]
/// when it ended with no update. A read: run it through [`rounds::settled_read`].
pub fn result(
    conn: &Conn,
    credential: &Credential,
    reference: &str,
) -> Result<RoundResult, Refusal> {
    let round = rounds::get(conn, credential, reference)?;
    if round.status == RoundStatus::Active {
        return Err(Refusal::StillActive {
            number: round.number,
            received: update_count(conn, &round.id)?,
            min_devices: round.min_devices,
        });
    }
    let kept = conn.query_opt(
        "SELECT participants, sample_count, aggregate, completed_at FROM round_aggregates \
             WHERE round_id = ?1 AND aggregate IS NOT NULL",
        &[&round.id],
        |r| {
            Ok(RoundResult {
                round_id: round.id.clone(),
                participants: u64::try_from(r.get::<i64>(0)?).unwrap_or(0),
                sample_count: u64::try_from(r.get::<i64>(1)?).unwrap_or(0),
                aggregate: federation::from_blob(&r.get::<Vec<u8>>(2)?),
                completed_at: r.get(3)?,
            })
        },
    )?;
    kept.ok_or(Refusal::NoResult {
        number: round.number,
        status: round.status,
    })
}

/// An upload to start.
pub struct InitiateUpload {
    /// The round's id or number.
    pub round: String,
    /// The participation id the device sends, if it sends one.
    pub participation_id: Option<String>,
    pub part_count: u64,
    /// Kept with the upload.
    pub meta: Box<RawValue>,
    /// The most uploads the device may have open, this one included.
    pub per_device: u32,
    /// The most uploads the round may have open, this one included.
    pub per_round: u32,
}

/// Starts an upload of the device credential's update to the round the command names
/// for its device, after settling the org's due rounds; returns the upload's id. The
/// device must have joined the active round, under the participation id sent if one is
/// sent, and not have sent its update yet.
pub fn initiate_upload(
    conn: &Conn,
    acting: &Acting,
    command: &InitiateUpload,
    now: Timestamp,
) -> Result<String, Refusal> {
    rounds::settle_due(conn, acting.org_id(), now)?;
    let device = acting::acting_device(conn, acting)?;
    let round = rounds::for_device(conn, &device, &command.round)?;
    rounds::ensure_active(&round, "sent updates")?;
    let participation = rounds::participation(conn, &round.id, &device.id)?;
    if participation.joined_at.is_none() {
        return Err(Refusal::NotJoined {
            device: device.identifier,
            number: round.number,
            round_id: round.id,
        });
    }
    if participation.update_received {
        return Err(rounds::Refusal::UpdateSent {
            device: device.identifier,
            number: round.number,
        }
        .into());
    }
    let pid = match (&command.participation_id, participation.participation_id) {
        (Some(named), Some(joined)) if *named != joined => {
            return Err(Refusal::WrongParticipation {
                named: named.clone(),
                device: device.identifier,
                number: round.number,
            });
        }
        (Some(named), None) => {
            rounds::set_participation(conn, &round.id, &device.id, named, "{}")?;
            named.clone()
        }
        (_, Some(joined)) => joined,
        (None, None) => String::new(),
    };
    let open_by_device = open_uploads(conn, "device_id", &device.id)?;
    if open_by_device >= u64::from(command.per_device) {
        return Err(Refusal::DeviceUploadsFull {
            device: device.identifier,
            open: open_by_device,
            cap: command.per_device,
        });
    }
    if open_uploads(conn, "round_id", &round.id)? >= u64::from(command.per_round) {
        return Err(Refusal::RoundUploadsFull {
            number: round.number,
            cap: command.per_round,
        });
    }
    let upload_id = uuid::Uuid::new_v4().hyphenated().to_string();
    conn.execute(
        "INSERT INTO round_uploads (id, round_id, device_id, participation_id, part_count, meta, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            &upload_id,
            &round.id,
            &device.id,
            &pid,
            &(command.part_count as i64),
            &command.meta.get(),
            &now,
        ],
    )?;
    Ok(upload_id)
}

/// One part of an upload, as sent.
pub struct Part {
    pub upload_id: String,
    /// The part's number as the path gives it.
    pub part: String,
    pub body: Vec<u8>,
    /// The most the upload's parts may hold together.
    pub max_bytes: u64,
}

/// A part stored.
#[derive(Debug)]
pub struct PartStored {
    pub part: i64,
    /// The upload's bytes over all its parts so far.
    pub stored_bytes: u64,
}

/// Stores a part of an upload of the device credential's own device, replacing the same
/// part sent before, after settling the org's due rounds. The upload's round must be
/// active.
pub fn put_part(
    conn: &Conn,
    acting: &Acting,
    part: &Part,
    now: Timestamp,
) -> Result<PartStored, Refusal> {
    rounds::settle_due(conn, acting.org_id(), now)?;
    let device_id = acting::acting_device_id(conn, acting)?;
    let upload = find_upload(conn, &part.upload_id)?
        .filter(|u| u.device_id == device_id)
        .ok_or_else(|| Refusal::UploadNotFound(part.upload_id.clone()))?;
    let number = part
        .part
        .parse::<i64>()
        .ok()
        .filter(|p| (0..upload.part_count).contains(p))
        .ok_or_else(|| Refusal::NoSuchPart {
            upload_id: upload.id.clone(),
            part: part.part.clone(),
            last: upload.part_count - 1,
        })?;
    let round = rounds::find(conn, acting.org_id(), &upload.round_id)?
        .ok_or_else(|| Refusal::UploadNotFound(part.upload_id.clone()))?;
    rounds::ensure_active(&round, "sent updates")?;
    let before: i64 = conn.query_row(
        "SELECT CAST(coalesce((SELECT length(body) FROM round_upload_parts \
                              WHERE upload_id = ?1 AND part = ?2), 0) AS BIGINT)",
        &[&upload.id, &number],
        |r| r.get(0),
    )?;
    let total = u64::try_from(upload.stored_bytes - before).unwrap_or(0) + part.body.len() as u64;
    if total > part.max_bytes {
        return Err(Refusal::UploadTooLarge {
            upload_id: upload.id,
            total,
            max_bytes: part.max_bytes,
        });
    }
    conn.execute(
        "INSERT INTO round_upload_parts (upload_id, part, body) VALUES (?1, ?2, ?3) \
         ON CONFLICT (upload_id, part) DO UPDATE SET body = excluded.body",
        &[&upload.id, &number, &part.body.as_slice()],
    )?;
    conn.execute(
        "UPDATE round_uploads SET stored_bytes = ?2 WHERE id = ?1",
        &[&upload.id, &(total as i64)],
    )?;
    Ok(PartStored {
        part: number,
        stored_bytes: total,
    })
}

/// The upload a completion names.
#[derive(Debug, Clone)]
pub struct UploadRef {
    /// The round's id or number, as the path gives it.
    pub round: String,
    pub upload_id: String,
    /// The update's weight if the completion's body gives one.
    pub sample_count: Option<u64>,
}

/// An upload whose parts are all stored, to be opened off the writer thread
/// ([`Parts::open`]). It names the parts; their bytes are read one at a time as the
/// envelope is parsed.
pub struct Parts {
    upload_id: String,
    part_count: i64,
    weight: u64,
    /// The round's plan's L2 norm, which the update is clipped to.
    clip_norm: f64,
}

/// An upload's envelope, opened: the update, or why it is not one (a sentence).
pub struct Opened {
    weight: u64,
    update: Result<Vec<f64>, String>,
}

impl Parts {
    /// Opens the envelope the parts make, in order, reading each with `read_part`
    /// ([`part_body`] on a read connection) only when the one before is parsed through:
    /// the work of hashing and parsing a large update, in memory for one part and the
    /// update's numbers, for the caller to do on a thread of its choosing. A failure of
    /// `read_part` is the answer; a part gone meanwhile (the upload was completed or
    /// reclaimed) leaves the envelope cut, which the completion's write then refuses.
    pub fn open(
        self,
        mut read_part: impl FnMut(&str, i64) -> Result<Option<Vec<u8>>, StoreError>,
    ) -> Result<Opened, StoreError> {
        let mut failure = None;
        let reader = federation::PartsReader::new(self.part_count, |n| {
            match read_part(&self.upload_id, n) {
                Ok(body) => Ok(body.unwrap_or_default()),
                Err(e) => {
                    failure = Some(e);
                    Err(std::io::Error::other("the part could not be read"))
                }
            }
        });
        let update = federation::open_envelope_from(reader).and_then(|mut update| {
            federation::check_and_clip(&mut update, self.clip_norm)?;
            Ok(update)
        });
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(Opened {
            weight: self.weight,
            update,
        })
    }
}

/// The bytes of part `part` of upload `upload_id`, if it is stored.
pub fn part_body(conn: &Conn, upload_id: &str, part: i64) -> Result<Option<Vec<u8>>, StoreError> {
    conn.query_opt(
        "SELECT body FROM round_upload_parts WHERE upload_id = ?1 AND part = ?2",
        &[&upload_id, &part],
        |r| r.get(0),
    )
}

/// What completing an upload reads before its write, on a read connection so the writer
/// is not held while the parts are read: the device credential's upload in the round the
/// request names, that every part of it is stored, and the update's weight (the
/// completion's `sample_count`, else the upload's, else 1). `None` when the round's
/// deadline has passed: [`complete_upload`] then completes the round and refuses.
pub fn upload_parts(
    conn: &Conn,
    acting: &Acting,
    target: &UploadRef,
    now: Timestamp,
) -> Result<Option<Parts>, Refusal> {
    let (upload, round) = own_upload(conn, acting, target)?;
    if round.status == RoundStatus::Active && round.past_deadline(now) {
        return Ok(None);
    }
    rounds::ensure_active(&round, "sent updates")?;
    let stored: Vec<i64> = conn.query_all(
        "SELECT part FROM round_upload_parts WHERE upload_id = ?1 ORDER BY part",
        &[&upload.id],
        |r| r.get(0),
    )?;
    if let Some(missing) = (0..upload.part_count).find(|n| !stored.contains(n)) {
        return Err(Refusal::MissingPart {
            upload_id: upload.id,
            part: missing,
            last: upload.part_count - 1,
        });
    }
    let weight = match target.sample_count {
        Some(n) => n,
        None => upload_sample_count(&upload)?.unwrap_or(1),
    };
    let clip_norm = rounds::plan_of(conn, &round.id)?.clip_norm;
    Ok(Some(Parts {
        upload_id: upload.id,
        part_count: upload.part_count,
        weight,
        clip_norm,
    }))
}

/// The `sample_count` of an upload's meta, if it has one.
fn upload_sample_count(upload: &Upload) -> Result<Option<u64>, Refusal> {
    let meta: Value = serde_json::from_str(upload.meta.get()).unwrap_or(Value::Null);
    match meta.get("sample_count") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => SampleCount::try_from(value.clone())
            .map(|n| Some(n.get()))
            .map_err(Refusal::UploadSampleCount),
    }
}

/// An upload to complete: the one [`upload_parts`] read, and its envelope opened (`None`
/// when that read found the round's deadline passed).
pub struct CompleteUpload {
    pub target: UploadRef,
    pub opened: Option<Opened>,
}

/// An update accepted into its round.
#[derive(Debug)]
pub struct Accepted {
    pub upload_id: String,
    pub round_id: String,
    /// The update's weight.
    pub sample_count: u64,
    /// Updates the round has accepted, this one included.
    pub updates_received: u64,
    pub min_devices: Option<u32>,
    /// The round's status after this update: completed when it was the last one wanted.
    pub round_status: RoundStatus,
}

/// Why an update was refused once its upload was opened. The upload is deleted with it,
/// so nothing of it is kept.
#[derive(Debug)]
pub enum Discard {
    /// The parts do not make a valid envelope (the sentence says why).
    Envelope(String),
    /// The update has `got` numbers; round `number`'s updates have `expected`.
    Length {
        got: usize,
        expected: usize,
        number: i64,
    },
    /// Round `number` already has the device's update.
    AlreadyReceived { number: i64 },
    /// Adding the update would make the round's sum overflow (the sentence says so).
    Overflow(String),
}

/// How completing an upload ended, when it did not refuse: the update is in, or it was
/// discarded with its upload (a refusal whose deletion the transaction keeps, so it is
/// not an `Err`, which would roll the deletion back).
#[derive(Debug)]
pub enum Completed {
    Accepted(Accepted),
    Discarded(Discard),
}

/// Completes an upload of the device credential's own device whose envelope the caller
/// opened: after settling the org's due rounds, adds the update into its round's FedAvg
/// sum (deleting the upload), writes `round.update_received`, and completes the round when
/// it then has `min_devices` updates. An invalid envelope, or an update the round cannot
/// take, is [`Completed::Discarded`] with the upload deleted.
pub fn complete_upload(
    conn: &Conn,
    acting: &Acting,
    command: &CompleteUpload,
    now: Timestamp,
) -> Result<Completed, Refusal> {
    rounds::settle_due(conn, acting.org_id(), now)?;
    let (upload, round) = own_upload(conn, acting, &command.target)?;
    // The read found the deadline passed; settle_due has just completed the round.
    let Some(opened) = &command.opened else {
        return Err(rounds::Refusal::ended(&round, "sent updates").into());
    };
    let update = match &opened.update {
        Ok(update) => update,
        Err(why) => return discard(conn, &upload, Discard::Envelope(why.clone())),
    };
    rounds::ensure_active(&round, "sent updates")?;
    if let Some(refused) = refusal_of(conn, &round, &upload, update)? {
        return discard(conn, &upload, refused);
    }
    let received = match add_update(conn, &round, &upload, opened.weight, update, now)? {
        Ok(received) => received,
        Err(refused) => return discard(conn, &upload, refused),
    };
    rounds::device_event(
        conn,
        &round,
        "round.update_received",
        &upload.device_id,
        now,
        json!({
            "upload_id": upload.id,
            "sample_count": opened.weight,
            "length": update.len(),
            "updates_received": received,
        }),
    )?;
    let mut round_status = round.status;
    if round.min_devices.is_some_and(|m| received >= u64::from(m))
        && rounds::complete(conn, &round, Completion::MinDevices, now)?.is_some()
    {
        round_status = RoundStatus::Completed;
    }
    Ok(Completed::Accepted(Accepted {
        upload_id: upload.id,
        round_id: round.id,
        sample_count: opened.weight,
        updates_received: received,
        min_devices: round.min_devices,
        round_status,
    }))
}

/// Deletes a refused upload and its parts, and says why it was refused.
fn discard(conn: &Conn, upload: &Upload, why: Discard) -> Result<Completed, Refusal> {
    delete_upload(conn, &upload.id)?;
    Ok(Completed::Discarded(why))
}

/// The device credential's upload `target` names, and its round, which must be the one
/// the request names: [`Refusal::UploadNotFound`] otherwise.
fn own_upload(
    conn: &Conn,
    acting: &Acting,
    target: &UploadRef,
) -> Result<(Upload, Round), Refusal> {
    let device_id = acting::acting_device_id(conn, acting)?;
    let not_found = || Refusal::UploadNotFound(target.upload_id.clone());
    let upload = find_upload(conn, &target.upload_id)?
        .filter(|u| u.device_id == device_id)
        .ok_or_else(not_found)?;
    let round = rounds::find(conn, acting.org_id(), &target.round)?
        .filter(|r| r.id == upload.round_id)
        .ok_or_else(not_found)?;
    Ok((upload, round))
}

/// An upload in progress.
#[derive(Debug)]
struct Upload {
    id: String,
    round_id: String,
    device_id: String,
    part_count: i64,
    stored_bytes: i64,
    meta: Box<RawValue>,
}

fn find_upload(conn: &Conn, upload_id: &str) -> Result<Option<Upload>, StoreError> {
    conn.query_opt(
        "SELECT id, round_id, device_id, part_count, stored_bytes, meta FROM round_uploads \
             WHERE id = ?1",
        &[&upload_id],
        |r| {
            Ok(Upload {
                id: r.get(0)?,
                round_id: r.get(1)?,
                device_id: r.get(2)?,
                part_count: r.get(3)?,
                stored_bytes: r.get(4)?,
                meta: r.json(5)?,
            })
        },
    )
}

/// How many uploads are open whose `column` (`device_id` or `round_id`) is `id`.
fn open_uploads(conn: &Conn, column: &str, id: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        &format!("SELECT count(*) FROM round_uploads WHERE {column} = ?1"),
        &[&id],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes up to `limit` uploads (and their parts) that can never complete: started before
/// `before` (`--upload-abandon-after`), or of a round that ended (completed or
/// cancelled). Returns how many. The sweep's; until it runs, a part or completion sent to
/// an ended round's upload hears that the round ended.
pub fn reclaim_abandoned(conn: &Conn, before: Timestamp, limit: u32) -> Result<usize, StoreError> {
    let n = conn.execute(
        "DELETE FROM round_uploads WHERE id IN (SELECT u.id FROM round_uploads u \
         JOIN rounds r ON r.id = u.round_id \
         WHERE u.created_at < ?1 OR r.status <> 'active' LIMIT ?2)",
        &[&before, &i64::from(limit)],
    )?;
    Ok(n)
}

/// Deletes an upload and its parts.
fn delete_upload(conn: &Conn, upload_id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM round_uploads WHERE id = ?1", &[&upload_id])?;
    Ok(())
}

/// How many updates a round has accepted.
fn update_count(conn: &Conn, round_id: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM round_updates WHERE round_id = ?1",
        &[&round_id],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Why `round` cannot take the update of `upload`'s device, if it cannot: it has that
/// device's update, or its updates are of another length. On PostgreSQL it first takes
/// the round's row lock, which the transaction holds through [`add_update`].
fn refusal_of(
    conn: &Conn,
    round: &Round,
    upload: &Upload,
    update: &[f64],
) -> Result<Option<Discard>, StoreError> {
    // The weighted sum is read, added to and written back: on PostgreSQL concurrent
    // updates (from one instance or several) take the round's row lock first, so none is
    // lost and the completion that follows sees them all. SQLite has one writer.
    if conn.dialect() == crate::store::Dialect::Postgres {
        conn.query_opt(
            "SELECT 1 FROM rounds WHERE id = ?1 FOR UPDATE",
            &[&round.id],
            |_| Ok(()),
        )?;
    }
    let already: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM round_updates WHERE round_id = ?1 AND device_id = ?2)",
        &[&&round.id, &&upload.device_id],
        |r| r.get(0),
    )?;
    if already {
        return Ok(Some(Discard::AlreadyReceived {
            number: round.number,
        }));
    }
    let length: Option<i64> = conn.query_opt(
        "SELECT length FROM round_aggregates WHERE round_id = ?1",
        &[&&round.id],
        |r| r.get(0),
    )?;
    Ok(length
        .filter(|length| *length as usize != update.len())
        .map(|length| Discard::Length {
            got: update.len(),
            expected: length as usize,
            number: round.number,
        }))
}

/// Adds a device's update into its round's weighted sum and records it; deletes the
/// upload. Returns how many updates the round now has, or [`Discard::Overflow`] (nothing
/// written) when the sum would stop being finite. [`refusal_of`] found none first.
fn add_update(
    conn: &Conn,
    round: &Round,
    upload: &Upload,
    sample_count: u64,
    update: &[f64],
    now: Timestamp,
) -> Result<Result<u64, Discard>, StoreError> {
    let stored: Option<Vec<u8>> = conn.query_opt(
        "SELECT weighted_sum FROM round_aggregates WHERE round_id = ?1",
        &[&&round.id],
        |r| r.get(0),
    )?;
    let first = stored.is_none();
    // The sum stays a blob, added to in place: one copy of it beside the update.
    let mut sum = stored.unwrap_or_else(|| vec![0; update.len() * 8]);
    if let Err(why) = federation::add_weighted_blob(&mut sum, update, sample_count as f64) {
        return Ok(Err(Discard::Overflow(why)));
    }
    conn.execute(
        "INSERT INTO round_updates (round_id, device_id, upload_id, sample_count, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &[
            &round.id,
            &upload.device_id,
            &upload.id,
            &(sample_count as i64),
            &now,
        ],
    )?;
    if first {
        conn.execute(
            "INSERT INTO round_aggregates (round_id, length, participants, sample_count, \
             weighted_sum) VALUES (?1, ?2, 1, ?3, ?4)",
            &[
                &round.id,
                &(update.len() as i64),
                &(sample_count as i64),
                &sum.as_slice(),
            ],
        )?;
    } else {
        conn.execute(
            "UPDATE round_aggregates SET participants = participants + 1, \
             sample_count = sample_count + ?2, weighted_sum = ?3 WHERE round_id = ?1",
            &[&round.id, &(sample_count as i64), &sum.as_slice()],
        )?;
    }
    delete_upload(conn, &upload.id)?;
    update_count(conn, &round.id).map(Ok)
}
