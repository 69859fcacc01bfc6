//! Federated rounds: plans, the participation a device joins with, uploads in parts,
//! accepted updates summed into the round's FedAvg, and the kept result.
//!
//! The vectors are not kept one per device: each accepted update is added into
//! `round_aggregates.weighted_sum` in the transaction that accepts it, so completing a
//! round is one division, and the database holds one vector per round, not one per device.

use serde_json::Value;
use serde_json::value::RawValue;

use super::events::{self, NewEvent};
use super::rounds::{self, Round};
use super::{Conn, StoreError};
use crate::domain::{RoundStatus, Timestamp};
use crate::federation;

/// How a round's devices train: what its plan carries besides the round's own fields.
#[derive(Debug, Clone)]
pub struct Plan {
    pub clip_norm: f64,
    pub noise_sigma: f64,
    pub max_steps: i64,
    pub hyperparams: Box<RawValue>,
}

impl Plan {
    pub const DEFAULT_CLIP_NORM: f64 = 1.0;
    pub const DEFAULT_NOISE_SIGMA: f64 = 0.0;
    pub const DEFAULT_MAX_STEPS: i64 = 100;

    /// The plan of a round started before plans existed.
    pub fn default_plan() -> Plan {
        Plan {
            clip_norm: Self::DEFAULT_CLIP_NORM,
            noise_sigma: Self::DEFAULT_NOISE_SIGMA,
            max_steps: Self::DEFAULT_MAX_STEPS,
            hyperparams: RawValue::from_string("{}".to_owned()).expect("valid JSON"),
        }
    }
}

/// Stores a new round's plan.
pub fn insert_plan(
    conn: &Conn,
    round_id: &str,
    base_version: Option<&str>,
    deadline_at: Option<Timestamp>,
    plan: &Plan,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO round_plans (round_id, base_version, deadline_at, clip_norm, noise_sigma, \
         max_steps, hyperparams) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            &round_id,
            &base_version,
            &deadline_at,
            &plan.clip_norm,
            &plan.noise_sigma,
            &plan.max_steps,
            &plan.hyperparams.get(),
        ],
    )?;
    Ok(())
}

/// A round's plan, or the default one for a round started before plans existed.
pub fn plan(conn: &Conn, round_id: &str) -> Result<Plan, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT clip_norm, noise_sigma, max_steps, hyperparams FROM round_plans \
             WHERE round_id = ?1",
            &[&round_id],
            |r| {
                Ok(Plan {
                    clip_norm: r.get(0)?,
                    noise_sigma: r.get(1)?,
                    max_steps: r.get(2)?,
                    hyperparams: r.json(3)?,
                })
            },
        )?
        .unwrap_or_else(Plan::default_plan))
}

/// A device's part in a round: whether it joined, the participation id it joined with
/// through the federation paths, and whether its update is in.
#[derive(Debug, Default)]
pub struct Participation {
    pub joined_at: Option<Timestamp>,
    pub participation_id: Option<String>,
    pub update_received: bool,
}

pub fn participation(
    conn: &Conn,
    round_id: &str,
    device_id: &str,
) -> Result<Participation, StoreError> {
    conn.query_row(
        "SELECT (SELECT joined_at FROM round_participants \
                     WHERE round_id = ?1 AND device_id = ?2), \
                    (SELECT participation_id FROM round_participations \
                     WHERE round_id = ?1 AND device_id = ?2), \
                    EXISTS (SELECT 1 FROM round_updates WHERE round_id = ?1 AND device_id = ?2)",
        &[&round_id, &device_id],
        |r| {
            Ok(Participation {
                joined_at: r.get(0)?,
                participation_id: r.get(1)?,
                update_received: r.get(2)?,
            })
        },
    )
}

/// Records the participation id a device joins with. `false` when it already joined
/// under another one (and nothing changes).
pub fn set_participation(
    conn: &Conn,
    round_id: &str,
    device_id: &str,
    participation_id: &str,
    capabilities: &str,
) -> Result<bool, StoreError> {
    let stored: Option<String> = conn.query_opt(
        "INSERT INTO round_participations (round_id, device_id, participation_id, \
             capabilities) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (round_id, device_id) DO UPDATE \
             SET participation_id = round_participations.participation_id \
             RETURNING participation_id",
        &[&round_id, &device_id, &participation_id, &capabilities],
        |r| r.get(0),
    )?;
    Ok(stored.as_deref() == Some(participation_id))
}

/// The round a participation id names in `round_id`, and its device.
pub fn participation_device(
    conn: &Conn,
    round_id: &str,
    participation_id: &str,
) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT device_id FROM round_participations \
             WHERE round_id = ?1 AND participation_id = ?2",
        &[&round_id, &participation_id],
        |r| r.get(0),
    )
}

/// The rounds offered to a device: its org's active rounds, aimed at its platform (the
/// heartbeat's targeting), before their deadline, to which it has not sent an update,
/// oldest first. Each with whether the device has joined it.
pub fn offers(
    conn: &Conn,
    org_id: &str,
    device_id: &str,
    platform: &str,
    now: Timestamp,
) -> Result<Vec<(Round, bool)>, StoreError> {
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
        &[&org_id, &device_id, &platform, &now],
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

/// An upload in progress.
#[derive(Debug)]
pub struct Upload {
    pub id: String,
    pub round_id: String,
    pub device_id: String,
    pub part_count: i64,
    pub stored_bytes: i64,
    pub meta: Box<RawValue>,
}

/// Starts an upload of `part_count` parts.
pub fn insert_upload(
    conn: &Conn,
    upload: &Upload,
    participation_id: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO round_uploads (id, round_id, device_id, participation_id, part_count, meta, \
         created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            &upload.id,
            &upload.round_id,
            &upload.device_id,
            &participation_id,
            &upload.part_count,
            &upload.meta.get(),
            &now,
        ],
    )?;
    Ok(())
}

pub fn find_upload(conn: &Conn, upload_id: &str) -> Result<Option<Upload>, StoreError> {
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

/// Stores part `part` of an upload, replacing the same part sent before, and returns the
/// upload's bytes over all parts. `Err(total)` when
/// the upload's parts would then hold more than `max_bytes` (and nothing changes).
pub fn put_part(
    conn: &Conn,
    upload: &Upload,
    part: i64,
    body: &[u8],
    max_bytes: u64,
) -> Result<Result<u64, u64>, StoreError> {
    let before: i64 = conn.query_row(
        "SELECT CAST(coalesce((SELECT length(body) FROM round_upload_parts \
                              WHERE upload_id = ?1 AND part = ?2), 0) AS BIGINT)",
        &[&upload.id, &part],
        |r| r.get(0),
    )?;
    let total = u64::try_from(upload.stored_bytes - before).unwrap_or(0) + body.len() as u64;
    if total > max_bytes {
        return Ok(Err(total));
    }
    conn.execute(
        "INSERT INTO round_upload_parts (upload_id, part, body) VALUES (?1, ?2, ?3) \
         ON CONFLICT (upload_id, part) DO UPDATE SET body = excluded.body",
        &[&upload.id, &part, &body],
    )?;
    conn.execute(
        "UPDATE round_uploads SET stored_bytes = ?2 WHERE id = ?1",
        &[&upload.id, &(total as i64)],
    )?;
    Ok(Ok(total))
}

/// The parts stored for an upload, in order: (part number, bytes).
pub fn parts(conn: &Conn, upload_id: &str) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    conn.query_all(
        "SELECT part, body FROM round_upload_parts WHERE upload_id = ?1 ORDER BY part",
        &[&upload_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Deletes an upload and its parts.
pub fn delete_upload(conn: &Conn, upload_id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM round_uploads WHERE id = ?1", &[&upload_id])?;
    Ok(())
}

/// How many updates a round has accepted.
pub fn update_count(conn: &Conn, round_id: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM round_updates WHERE round_id = ?1",
        &[&round_id],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Why an update was not added.
#[derive(Debug)]
pub enum Refusal {
    /// The round's updates so far have this many numbers.
    Length { expected: usize },
    /// The device's update is already in.
    AlreadyReceived,
}

/// Adds a device's update into its round's weighted sum and records it; deletes the
/// upload. Returns how many updates the round now has; a refusal changes nothing.
pub fn accept_update(
    conn: &Conn,
    round: &Round,
    upload: &Upload,
    sample_count: u64,
    update: &[f64],
    now: Timestamp,
) -> Result<Result<u64, Refusal>, StoreError> {
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
        return Ok(Err(Refusal::AlreadyReceived));
    }
    let stored: Option<(i64, Vec<u8>)> = conn.query_opt(
        "SELECT length, weighted_sum FROM round_aggregates WHERE round_id = ?1",
        &[&&round.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if let Some((length, _)) = &stored
        && *length as usize != update.len()
    {
        return Ok(Err(Refusal::Length {
            expected: *length as usize,
        }));
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
    let weight = sample_count as f64;
    match stored {
        Some((_, blob)) => {
            let mut sum = federation::from_blob(&blob);
            federation::add_weighted(&mut sum, update, weight);
            conn.execute(
                "UPDATE round_aggregates SET participants = participants + 1, \
                 sample_count = sample_count + ?2, weighted_sum = ?3 WHERE round_id = ?1",
                &[
                    &round.id,
                    &(sample_count as i64),
                    &federation::to_blob(&sum),
                ],
            )?;
        }
        None => {
            let mut sum = vec![0.0; update.len()];
            federation::add_weighted(&mut sum, update, weight);
            conn.execute(
                "INSERT INTO round_aggregates (round_id, length, participants, sample_count, \
                 weighted_sum) VALUES (?1, ?2, 1, ?3, ?4)",
                &[
                    &round.id,
                    &(update.len() as i64),
                    &(sample_count as i64),
                    &federation::to_blob(&sum),
                ],
            )?;
        }
    }
    delete_upload(conn, &upload.id)?;
    Ok(Ok(update_count(conn, &round.id)?))
}

/// Why a round completed, as its `round.completed` event says.
#[derive(Debug, Clone, Copy)]
pub enum Completion {
    /// `min_devices` updates are in.
    MinDevices,
    /// The operator completed it.
    Operator,
    /// Its deadline passed.
    Deadline,
}

impl Completion {
    pub fn as_str(self) -> &'static str {
        match self {
            Completion::MinDevices => "min_devices",
            Completion::Operator => "operator",
            Completion::Deadline => "deadline",
        }
    }
}

/// Completes an active round: marks it completed, keeps its FedAvg result (if any update
/// came in) and appends `round.completed`. `None` when the round is not active.
pub fn complete(
    conn: &Conn,
    round: &Round,
    why: Completion,
    now: Timestamp,
) -> Result<Option<Round>, StoreError> {
    let Some(finished) = rounds::finish(conn, &round.id, RoundStatus::Completed, now)? else {
        return Ok(None);
    };
    let stored: Option<(i64, i64, Vec<u8>)> = conn.query_opt(
        "SELECT participants, sample_count, weighted_sum FROM round_aggregates \
             WHERE round_id = ?1",
        &[&&round.id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let (participants, sample_count) = match stored {
        Some((participants, sample_count, sum)) => {
            let aggregate =
                federation::mean(&federation::from_blob(&sum), sample_count.max(1) as f64);
            conn.execute(
                "UPDATE round_aggregates SET aggregate = ?2, completed_at = ?3 WHERE round_id = ?1",
                &[&round.id, &federation::to_blob(&aggregate), &now],
            )?;
            (participants, sample_count)
        }
        None => (0, 0),
    };
    events::append(
        conn,
        &NewEvent {
            org_id: round.org_id.as_str(),
            kind: "round.completed",
            device_id: None,
            at: now,
            data: &serde_json::json!({
                "round_id": round.id,
                "round_number": round.number,
                "reason": why.as_str(),
                "participants": participants,
                "sample_count": sample_count,
            }),
        },
    )?;
    Ok(Some(finished))
}

/// Completes every active round of `org_id` whose deadline has passed. Returns how many.
pub fn complete_due(conn: &Conn, org_id: &str, now: Timestamp) -> Result<u64, StoreError> {
    let due: Vec<String> = conn.query_all(
        "SELECT r.id FROM rounds AS r JOIN round_plans AS rp ON rp.round_id = r.id \
             WHERE r.org_id = ?1 AND r.status = 'active' AND rp.deadline_at <= ?2",
        &[&org_id, &now],
        |r| r.get(0),
    )?;
    let mut completed = 0;
    for id in due {
        if let Some(round) = rounds::find(conn, org_id, &id)?
            && complete(conn, &round, Completion::Deadline, now)?.is_some()
        {
            completed += 1;
        }
    }
    Ok(completed)
}

/// Whether `org_id` has an active round past its deadline: a read, so requests that find
/// none need not write.
pub fn any_due(conn: &Conn, org_id: &str, now: Timestamp) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM rounds AS r JOIN round_plans AS rp \
             ON rp.round_id = r.id WHERE r.org_id = ?1 AND r.status = 'active' \
             AND rp.deadline_at <= ?2)",
        &[&org_id, &now],
        |r| r.get(0),
    )
}

/// A completed round's kept FedAvg result.
#[derive(Debug)]
pub struct RoundResult {
    pub participants: u64,
    pub sample_count: u64,
    pub aggregate: Vec<f64>,
    pub completed_at: Option<Timestamp>,
}

/// The kept result of a round, once it completed with at least one update.
pub fn result(conn: &Conn, round_id: &str) -> Result<Option<RoundResult>, StoreError> {
    conn.query_opt(
        "SELECT participants, sample_count, aggregate, completed_at FROM round_aggregates \
             WHERE round_id = ?1 AND aggregate IS NOT NULL",
        &[&round_id],
        |r| {
            Ok(RoundResult {
                participants: u64::try_from(r.get::<i64>(0)?).unwrap_or(0),
                sample_count: u64::try_from(r.get::<i64>(1)?).unwrap_or(0),
                aggregate: federation::from_blob(&r.get::<Vec<u8>>(2)?),
                completed_at: r.get(3)?,
            })
        },
    )
}

/// Appends a round event about one device.
pub fn device_event(
    conn: &Conn,
    round: &Round,
    kind: &str,
    device_id: &str,
    now: Timestamp,
    data: Value,
) -> Result<(), StoreError> {
    let mut data = data;
    if let Some(object) = data.as_object_mut() {
        object.insert("round_id".to_owned(), Value::from(round.id.as_str()));
        object.insert("round_number".to_owned(), Value::from(round.number));
    }
    events::append(
        conn,
        &NewEvent {
            org_id: round.org_id.as_str(),
            kind,
            device_id: Some(device_id),
            at: now,
            data: &data,
        },
    )?;
    Ok(())
}
