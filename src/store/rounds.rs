//! Training rounds: starting them, finding and listing them, devices joining them (through
//! either path), ending them, completing those whose deadline passed, and the one lookup a
//! heartbeat makes for the round pending for its device.
//!
//! Each operation is one transaction function. Where it reads rounds it settles the org's
//! rounds whose deadline passed first ([`settle_due`], or [`settled_read`] for a read,
//! which writes only when one is due), so it sees them completed; it resolves the device
//! it acts on by [`acting::acting_device`]; and it writes its own events.

use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::acting::{self, Device, NotActing};
use super::events::{self, NewEvent};
use super::{Conn, Db, Dialect, Failure, Param, Row, StoreError, models};
use crate::domain::{
    Acting, Credential, DeviceIdentifier, ModelId, OrgId, Platform, RoundStatus, TargetPlatforms,
    Timestamp, VersionName,
};
use crate::federation;

/// A round as stored.
#[derive(Debug)]
pub struct Round {
    pub id: String,
    pub org_id: OrgId,
    pub number: i64,
    pub model_id: Option<String>,
    /// The target platforms; empty for every platform.
    pub platforms: Vec<Platform>,
    pub min_devices: Option<u32>,
    pub status: RoundStatus,
    pub participant_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// The model version the round trains from, from its plan: `None` when the plan names
    /// none or the round has no plan.
    pub base_version: Option<String>,
    /// When the round completes whatever it has, from its plan.
    pub deadline_at: Option<Timestamp>,
}

impl Round {
    /// Whether the round is aimed at devices of `platform`: it names no platform, or that
    /// one.
    pub fn targets(&self, platform: &Platform) -> bool {
        self.platforms.is_empty() || self.platforms.contains(platform)
    }

    /// Whether its deadline has passed at `now` (it is over, even if nothing marked it
    /// completed yet).
    pub fn past_deadline(&self, now: Timestamp) -> bool {
        self.deadline_at.is_some_and(|d| d <= now)
    }
}
/// Why a round operation refused. Each variant carries what its sentence needs.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// No round by that reference (as sent) that the caller can see: none, another org's,
    /// or, for a device credential, one for other platforms than its device's.
    #[error("no training round {0:?} that this key can see")]
    NotFound(String),
    /// The version a new round names is not a version of its model in the org.
    #[error("no version {version:?} of model {model:?} in this key's org")]
    NoVersion { model: String, version: String },
    /// The round has ended, so it cannot be `doing` ("joined", "sent updates").
    #[error("training round {number} is {}; only an active round can be {doing}", status.as_str())]
    Ended {
        number: i64,
        status: RoundStatus,
        doing: &'static str,
    },
    /// Ending a round (as `ending`) that already ended.
    #[error("training round {number} is already {}", status.as_str())]
    AlreadyEnded {
        number: i64,
        status: RoundStatus,
        ending: RoundStatus,
    },
    /// An org key joins a device of a platform the round does not want.
    #[error("training round {number} is not for {} devices", platform.as_str())]
    WrongPlatform {
        number: i64,
        platforms: Vec<Platform>,
        device: DeviceIdentifier,
        platform: Platform,
    },
    /// The device's update is in: it joins, or sends, no more.
    #[error("device {device} has already sent its update to training round {number}")]
    UpdateSent {
        device: DeviceIdentifier,
        number: i64,
    },
    /// The device joined under another participation id, `participation_id`.
    #[error("device {device} already joined training round {number} as {participation_id:?}")]
    OtherParticipation {
        device: DeviceIdentifier,
        number: i64,
        participation_id: String,
    },
    #[error(transparent)]
    NotActing(#[from] NotActing),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        match self {
            Refusal::Store(e) => e.is_database_failure(),
            Refusal::NotActing(e) => e.is_database_failure(),
            _ => false,
        }
    }
}

impl Refusal {
    /// [`Refusal::Ended`] for `round`.
    pub fn ended(round: &Round, doing: &'static str) -> Refusal {
        Refusal::Ended {
            number: round.number,
            status: round.status,
            doing,
        }
    }
}

/// Refuses, as [`Refusal::Ended`], a round that is not active.
pub fn ensure_active(round: &Round, doing: &'static str) -> Result<(), Refusal> {
    match round.status {
        RoundStatus::Active => Ok(()),
        _ => Err(Refusal::ended(round, doing)),
    }
}

/// Runs `op`, a read of the rounds of `org_id`, with every one of them whose deadline has
/// passed at `now` completed first: in a read when the org has none due (what nearly every
/// call finds), else in a write that completes them and then runs `op`, in one
/// transaction. So a read writes only when a deadline has passed since rounds were last
/// looked at.
pub async fn settled_read<T, E, F>(db: &Db, org_id: &OrgId, now: Timestamp, op: F) -> Result<T, E>
where
    T: Send + 'static,
    E: Failure + Send + 'static,
    F: Fn(&Conn) -> Result<T, E> + Send + Sync + 'static,
{
    let op = Arc::new(op);
    let (org, read) = (org_id.clone(), op.clone());
    let found = db
        .read(move |conn| {
            if any_due(conn, org.as_str(), now)? {
                return Ok(None);
            }
            read(conn).map(Some)
        })
        .await?;
    if let Some(value) = found {
        return Ok(value);
    }
    let org = org_id.clone();
    db.write(move |tx| {
        settle_due(tx, org.as_str(), now)?;
        op(tx)
    })
    .await
}

/// Completes every active round of `org_id` whose deadline has passed at `now`, so that
/// what its transaction reads next sees them completed. Returns how many. Every
/// operation that reads rounds in a write calls it first; reads go through
/// [`settled_read`].
pub fn settle_due(conn: &Conn, org_id: &str, now: Timestamp) -> Result<u64, StoreError> {
    let due: Vec<String> = conn.query_all(
        "SELECT r.id FROM rounds AS r JOIN round_plans AS rp ON rp.round_id = r.id \
             WHERE r.org_id = ?1 AND r.status = 'active' AND rp.deadline_at <= ?2 \
             ORDER BY r.number",
        &[&org_id, &now],
        |r| r.get(0),
    )?;
    // In number order, so that transactions settling the same rounds on PostgreSQL take
    // their row locks in the same order.
    let mut completed = 0;
    for id in due {
        if let Some(round) = find(conn, org_id, &id)?
            && complete(conn, &round, Completion::Deadline, now)?.is_some()
        {
            completed += 1;
        }
    }
    Ok(completed)
}

/// Whether `org_id` has an active round past its deadline: a read, so requests that find
/// none need not write.
fn any_due(conn: &Conn, org_id: &str, now: Timestamp) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM rounds AS r JOIN round_plans AS rp \
             ON rp.round_id = r.id WHERE r.org_id = ?1 AND r.status = 'active' \
             AND rp.deadline_at <= ?2)",
        &[&org_id, &now],
        |r| r.get(0),
    )
}

/// A round to start, every field parsed.
pub struct StartRound {
    pub model_id: Option<ModelId>,
    /// A version of `model_id` (the handler checked that it comes with one).
    pub base_version: Option<VersionName>,
    /// Empty for every platform.
    pub platforms: TargetPlatforms,
    pub min_devices: Option<u32>,
    pub deadline_at: Option<Timestamp>,
    pub plan: Plan,
}

/// Starts an active round in the credential's org with its plan, and writes
/// `round.started`. [`Refusal::NoVersion`] when `base_version` is not a version of
/// `model_id` in the org.
pub fn start(
    conn: &Conn,
    credential: &Credential,
    command: &StartRound,
    now: Timestamp,
) -> Result<Round, Refusal> {
    let org_id = credential.org_id.as_str();
    let model = command.model_id.as_ref().map(ModelId::as_str);
    let version = command.base_version.as_ref().map(VersionName::as_str);
    if let (Some(model), Some(version)) = (model, version)
        && models::find_version(conn, org_id, model, version)?.is_none()
    {
        return Err(Refusal::NoVersion {
            model: model.to_owned(),
            version: version.to_owned(),
        });
    }
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let platforms_json = command.platforms.to_json();
    insert(
        conn,
        &NewRound {
            id: &id,
            org_id,
            model_id: model,
            platforms_json: &platforms_json,
            min_devices: command.min_devices,
            now,
        },
    )?;
    insert_plan(conn, &id, version, command.deadline_at, &command.plan)?;
    let round = find(conn, org_id, &id)?.ok_or(StoreError::NoRow)?;
    round_event(conn, "round.started", &round)?;
    Ok(round)
}

/// Which page of rounds a list asks for.
pub struct ListRounds {
    pub status: Option<RoundStatus>,
    pub limit: u32,
    pub offset: u64,
}

/// A page of the org's rounds, oldest first, and how many match in all. With a device
/// credential, or a device named (`acting.named`), only the rounds that device may take
/// part in: its org's, aimed at its platform or at every platform. A read: run it through
/// [`settled_read`].
pub fn list(
    conn: &Conn,
    acting: &Acting,
    query: &ListRounds,
) -> Result<(Vec<Round>, u64), Refusal> {
    let device = match (&acting.named, acting.credential.own_device()) {
        (None, None) => None,
        _ => Some(acting::acting_device(conn, acting)?),
    };
    Ok(page(
        conn,
        &ListQuery {
            org_id: acting.org_id(),
            status: query.status,
            platform: device.as_ref().map(|d| d.platform.as_str()),
            limit: query.limit,
            offset: query.offset,
        },
    )?)
}

/// The round `reference` (its id or number) names, as the caller sees it: any round of
/// its org for an org key; for a device credential, only a round its device may take
/// part in, and any other is [`Refusal::NotFound`] as if it did not exist. A read: run it
/// through [`settled_read`].
pub fn get(conn: &Conn, credential: &Credential, reference: &str) -> Result<Round, Refusal> {
    let round = find(conn, credential.org_id.as_str(), reference)?
        .ok_or_else(|| Refusal::NotFound(reference.to_owned()))?;
    if credential.own_device().is_some() {
        let own = Acting {
            credential: credential.clone(),
            named: None,
        };
        let device = acting::acting_device(conn, &own)?;
        if !round.targets(&device.platform) {
            return Err(Refusal::NotFound(reference.to_owned()));
        }
    }
    Ok(round)
}

/// The round `reference` names that `device` may take part in: the federation paths'
/// lookup. Another org's, none, or one aimed at other platforms is
/// [`Refusal::NotFound`].
pub fn for_device(conn: &Conn, device: &Device, reference: &str) -> Result<Round, Refusal> {
    find(conn, device.org_id.as_str(), reference)?
        .filter(|round| round.targets(&device.platform))
        .ok_or_else(|| Refusal::NotFound(reference.to_owned()))
}

/// Ends the active round `reference` names as `status` (completed or cancelled), after
/// settling the org's due rounds: completing keeps the FedAvg result of the updates that
/// are in and writes `round.completed`; cancelling writes `round.cancelled`. A round
/// already ended is [`Refusal::AlreadyEnded`] and stays as it was.
pub fn end(
    conn: &Conn,
    credential: &Credential,
    reference: &str,
    status: RoundStatus,
    now: Timestamp,
) -> Result<Round, Refusal> {
    let org_id = credential.org_id.as_str();
    settle_due(conn, org_id, now)?;
    let round =
        find(conn, org_id, reference)?.ok_or_else(|| Refusal::NotFound(reference.to_owned()))?;
    let ended = match status {
        RoundStatus::Completed => complete(conn, &round, Completion::Operator, now)?,
        _ => {
            let ended = finish(conn, &round.id, status, now)?;
            if let Some(ended) = &ended {
                round_event(conn, "round.cancelled", ended)?;
            }
            ended
        }
    };
    ended.ok_or(Refusal::AlreadyEnded {
        number: round.number,
        status: round.status,
        ending: status,
    })
}

/// A device joining a round, through either path.
pub struct Join {
    /// The round's id or number.
    pub round: String,
    /// Through the federation paths: the participation the device agent names. `None`
    /// through `/api/v1/training/rounds/{round_id}/join`.
    pub federated: Option<Participating>,
}

/// What the federation paths' join adds: the device agent's own participation id (devreg
/// makes one when it sends none) and the capabilities it sends, kept unread.
pub struct Participating {
    pub participation_id: Option<String>,
    /// A JSON object, as text.
    pub capabilities_json: String,
}

/// A device's part in a round.
#[derive(Debug)]
pub struct Joined {
    /// The round after the join.
    pub round: Round,
    pub device: Device,
    /// When the device first joined.
    pub joined_at: Timestamp,
    /// The participation id, through the federation paths.
    pub participation_id: Option<String>,
}

/// Records that the device `acting` names (or its own) takes part in an active round,
/// after settling the org's due rounds, and writes `round.joined` the first time. Joining
/// again changes nothing. Through the training path an org key joining a device of
/// another platform is [`Refusal::WrongPlatform`]; through the federation paths the round
/// is looked up for the device ([`for_device`]), and the participation id must be the
/// one the device joined with, and its update not in yet.
pub fn join(
    conn: &Conn,
    acting: &Acting,
    command: &Join,
    now: Timestamp,
) -> Result<Joined, Refusal> {
    let org_id = acting.org_id();
    settle_due(conn, org_id, now)?;
    let device = acting::acting_device(conn, acting)?;
    let round = match &command.federated {
        Some(_) => for_device(conn, &device, &command.round)?,
        None => joinable(conn, acting, &device, &command.round)?,
    };
    ensure_active(&round, "joined")?;
    let participation_id = match &command.federated {
        Some(federated) => Some(participate(conn, &round, &device, federated)?),
        None => None,
    };
    let (joined_at, joined_now) = add_participant(conn, &round.id, &device.id, now)?;
    if joined_now {
        let mut data = json!({
            "round_id": round.id,
            "round_number": round.number,
            "device_id": device.identifier.as_str(),
        });
        if let Some(pid) = &participation_id {
            data["participation_id"] = Value::from(pid.as_str());
        }
        events::append(
            conn,
            &NewEvent {
                org_id,
                kind: "round.joined",
                device_id: Some(&device.id),
                at: now,
                data: &data,
            },
        )?;
    }
    let round = find(conn, org_id, &round.id)?.ok_or(StoreError::NoRow)?;
    Ok(Joined {
        round,
        device,
        joined_at,
        participation_id,
    })
}

/// The round `reference` names for the training path's join: a device credential sees
/// only rounds for its platform; an org key sees every round of its org, and one for
/// other platforms than the device's is [`Refusal::WrongPlatform`].
fn joinable(
    conn: &Conn,
    acting: &Acting,
    device: &Device,
    reference: &str,
) -> Result<Round, Refusal> {
    let round = find(conn, acting.org_id(), reference)?
        .ok_or_else(|| Refusal::NotFound(reference.to_owned()))?;
    if round.targets(&device.platform) {
        return Ok(round);
    }
    if acting.credential.own_device().is_some() {
        return Err(Refusal::NotFound(reference.to_owned()));
    }
    Err(Refusal::WrongPlatform {
        number: round.number,
        platforms: round.platforms,
        device: device.identifier.clone(),
        platform: device.platform.clone(),
    })
}

/// Records the participation id a device joins `round` with through the federation
/// paths: the one it sends, else the one it joined with before, else a new one.
fn participate(
    conn: &Conn,
    round: &Round,
    device: &Device,
    federated: &Participating,
) -> Result<String, Refusal> {
    let before = participation(conn, &round.id, &device.id)?;
    if before.update_received {
        return Err(Refusal::UpdateSent {
            device: device.identifier.clone(),
            number: round.number,
        });
    }
    let pid = federated
        .participation_id
        .clone()
        .or(before.participation_id.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string());
    if !set_participation(
        conn,
        &round.id,
        &device.id,
        &pid,
        &federated.capabilities_json,
    )? {
        return Err(Refusal::OtherParticipation {
            device: device.identifier.clone(),
            number: round.number,
            participation_id: before.participation_id.unwrap_or_default(),
        });
    }
    Ok(pid)
}
/// The plan's columns come by primary key from `round_plans` (which is not `rounds`, so
/// starting and finishing a round stay single-table statements with RETURNING).
const ROUND_COLUMNS: &str = "id, org_id, number, model_id, platforms, min_devices, status, \
                             participant_count, created_at, updated_at, ended_at, \
                             (SELECT base_version FROM round_plans WHERE round_id = rounds.id), \
                             (SELECT deadline_at FROM round_plans WHERE round_id = rounds.id)";

fn round_from_row(row: &Row<'_>) -> Result<Round, StoreError> {
    let conversion = |i: usize, e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e)
    };
    let platforms: String = row.get(4)?;
    Ok(Round {
        id: row.get(0)?,
        org_id: row.get(1)?,
        number: row.get(2)?,
        model_id: row.get(3)?,
        platforms: serde_json::from_str(&platforms).map_err(|e| conversion(4, e.into()))?,
        min_devices: row
            .get::<Option<i64>>(5)?
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        status: row.get(6)?,
        participant_count: u64::try_from(row.get::<i64>(7)?).unwrap_or(0),
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
        ended_at: row.get(10)?,
        base_version: row.get(11)?,
        deadline_at: row.get(12)?,
    })
}

/// SQL true when the round in scope targets the platform bound as `?{n}`: it names no
/// platform, or names that one.
pub(crate) fn targets_platform(n: usize, dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "(platforms = '[]' OR EXISTS (SELECT 1 FROM json_each(platforms) WHERE value = ?{n}))"
        ),
        Dialect::Postgres => format!(
            "(platforms = '[]' OR EXISTS (SELECT 1 FROM \
             json_array_elements_text(platforms::json) AS t(value) WHERE t.value = ?{n}))"
        ),
    }
}

/// SQL true when the round in scope (as `r`) has no deadline, or one after the time bound
/// as `?{n}`: a round past its deadline is over even before anything marks it completed.
pub(crate) fn before_deadline(n: usize) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM round_plans AS rp \
                     WHERE rp.round_id = r.id AND rp.deadline_at <= ?{n})"
    )
}

/// What starting a round stores.
struct NewRound<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub model_id: Option<&'a str>,
    pub platforms_json: &'a str,
    pub min_devices: Option<u32>,
    pub now: Timestamp,
}

/// Starts an active round, numbered one past the org's highest. Safe without retries
/// because every write runs on the one writer connection, in its own transaction.
fn insert(conn: &Conn, new: &NewRound<'_>) -> Result<Round, StoreError> {
    // SQLite's one writer makes max + 1 safe; PostgreSQL's concurrent transactions (and
    // instances) take the org's row lock first, so they number one after another.
    if conn.dialect() == Dialect::Postgres {
        conn.query_opt(
            "SELECT 1 FROM orgs WHERE id = ?1 FOR UPDATE",
            &[&new.org_id],
            |_| Ok(()),
        )?;
    }
    conn.query_row(
        &format!(
            "INSERT INTO rounds (id, org_id, number, model_id, platforms, min_devices, status, \
             created_at, updated_at) \
             SELECT ?1, ?2, coalesce(max(number), 0) + 1, ?3, ?4, ?5, 'active', ?6, ?6 \
             FROM rounds WHERE org_id = ?2 \
             RETURNING {ROUND_COLUMNS}"
        ),
        &[
            &new.id,
            &new.org_id,
            &new.model_id,
            &new.platforms_json,
            &new.min_devices.map(i64::from),
            &new.now,
        ],
        round_from_row,
    )
}

/// Finds a round of `org_id` by its UUID `id` or its number in the org.
pub fn find(conn: &Conn, org_id: &str, reference: &str) -> Result<Option<Round>, StoreError> {
    if let Ok(uuid) = uuid::Uuid::try_parse(reference) {
        return conn.query_opt(
            &format!("SELECT {ROUND_COLUMNS} FROM rounds WHERE id = ?1 AND org_id = ?2"),
            &[&uuid.hyphenated().to_string(), &org_id],
            round_from_row,
        );
    }
    let Ok(number) = reference.parse::<i64>() else {
        return Ok(None);
    };
    conn.query_opt(
        &format!("SELECT {ROUND_COLUMNS} FROM rounds WHERE org_id = ?1 AND number = ?2"),
        &[&org_id, &number],
        round_from_row,
    )
}

/// Which rounds of an org a page holds.
struct ListQuery<'a> {
    org_id: &'a str,
    status: Option<RoundStatus>,
    /// Only rounds a device of this platform may join.
    platform: Option<&'a str>,
    limit: u32,
    offset: u64,
}

/// One page of an org's rounds, oldest (lowest number) first, and how many match in all,
/// from one read transaction.
fn page(conn: &Conn, query: &ListQuery<'_>) -> Result<(Vec<Round>, u64), StoreError> {
    let mut filter = String::from("org_id = ?1");
    let mut args: Vec<&dyn Param> = vec![&query.org_id];
    let status = query.status.map(RoundStatus::as_str);
    if let Some(status) = &status {
        args.push(status);
        filter.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some(platform) = &query.platform {
        args.push(platform);
        filter.push_str(&format!(
            " AND {}",
            targets_platform(args.len(), conn.dialect())
        ));
    }

    let limit = i64::from(query.limit);
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    conn.snapshot(|| {
        let total: i64 = conn.query_row(
            &format!("SELECT count(*) FROM rounds WHERE {filter}"),
            &args,
            |r| r.get(0),
        )?;
        args.push(&limit);
        args.push(&offset);
        let page_sql = format!(
            "SELECT {ROUND_COLUMNS} FROM rounds WHERE {filter} ORDER BY number \
             LIMIT ?{} OFFSET ?{}",
            args.len() - 1,
            args.len()
        );
        let rounds = conn.query_all(&page_sql, &args, round_from_row)?;
        Ok((rounds, u64::try_from(total).unwrap_or(0)))
    })
}

/// Records that device `device_id` (its UUID) joined round `round_id` (its UUID) and
/// returns when it joined, and whether it joined now. A second join keeps the first
/// time and changes nothing.
fn add_participant(
    conn: &Conn,
    round_id: &str,
    device_id: &str,
    now: Timestamp,
) -> Result<(Timestamp, bool), StoreError> {
    let added = conn.execute(
        "INSERT INTO round_participants (round_id, device_id, joined_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (round_id, device_id) DO NOTHING",
        &[&round_id, &device_id, &now],
    )?;
    if added == 1 {
        conn.execute(
            "UPDATE rounds SET participant_count = participant_count + 1 WHERE id = ?1",
            &[&round_id],
        )?;
        return Ok((now, true));
    }
    let joined_at = conn.query_row(
        "SELECT joined_at FROM round_participants WHERE round_id = ?1 AND device_id = ?2",
        &[&round_id, &device_id],
        |r| r.get(0),
    )?;
    Ok((Timestamp(joined_at), false))
}

/// Ends active round `round_id` as `status` (completed or cancelled). `None` when the
/// round is not active (already ended), and then nothing changes.
fn finish(
    conn: &Conn,
    round_id: &str,
    status: RoundStatus,
    now: Timestamp,
) -> Result<Option<Round>, StoreError> {
    debug_assert!(
        status != RoundStatus::Active,
        "a round ends as completed or cancelled"
    );
    conn.query_opt(
        &format!(
            "UPDATE rounds SET status = ?2, updated_at = ?3, ended_at = ?3 \
             WHERE id = ?1 AND status = 'active' RETURNING {ROUND_COLUMNS}"
        ),
        &[&round_id, &status, &now],
        round_from_row,
    )
}

/// The round a device should be told about: the org's oldest active round that targets
/// the device's platform and that the device has not joined. Returns its id and number.
///
/// One statement: it walks `rounds_by_org_status` over the org's active rounds in number
/// order and stops at the first that qualifies, probing `round_participants` by primary
/// key for each. Its cost grows with the active rounds it skips (joined, or aimed at other
/// platforms), never with devices or with ended rounds.
pub fn pending_for(
    conn: &Conn,
    org_id: &str,
    device_id: &str,
    platform: &str,
    now: Timestamp,
) -> Result<Option<(String, i64)>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT r.id, r.number FROM rounds AS r \
             WHERE r.org_id = ?1 AND r.status = 'active' AND {} AND {} \
             AND NOT EXISTS (SELECT 1 FROM round_participants AS p \
                             WHERE p.round_id = r.id AND p.device_id = ?2) \
             ORDER BY r.number LIMIT 1",
            targets_platform(3, conn.dialect()),
            before_deadline(4)
        ),
        &[&org_id, &device_id, &platform, &now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

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
fn insert_plan(
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
pub fn plan_of(conn: &Conn, round_id: &str) -> Result<Plan, StoreError> {
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
    let Some(finished) = finish(conn, &round.id, RoundStatus::Completed, now)? else {
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
            data: &json!({
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

/// Appends an event about `round` as a whole (`round.started`, `round.cancelled`),
/// written in the transaction that changed it.
fn round_event(conn: &Conn, kind: &str, round: &Round) -> Result<i64, StoreError> {
    let at = if kind == "round.started" {
        round.created_at
    } else {
        round.updated_at
    };
    events::append(
        conn,
        &NewEvent {
            org_id: round.org_id.as_str(),
            kind,
            device_id: None,
            at,
            data: &json!({
                "round_id": round.id,
                "number": round.number,
                "model_id": round.model_id,
                "status": round.status.as_str(),
                "participant_count": round.participant_count,
            }),
        },
    )
}

/// Appends an event about one device in `round`: `data` with the round's id and number.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;

    #[test]
    fn pending_lookup_walks_the_status_index_and_probes_participants_by_key() {
        let db = Db::open(crate::store::MEMORY, 1).unwrap();
        let plan: Vec<String> = db
            .read_sync(|conn| {
                let sql = format!(
                    "EXPLAIN QUERY PLAN SELECT r.id, r.number FROM rounds AS r \
                     WHERE r.org_id = ?1 AND r.status = 'active' AND {} \
                     AND NOT EXISTS (SELECT 1 FROM round_participants AS p \
                                     WHERE p.round_id = r.id AND p.device_id = ?2) \
                     ORDER BY r.number LIMIT 1",
                    targets_platform(3, Dialect::Sqlite)
                );
                let mut stmt = conn.sqlite("the plan test")?.prepare(&sql)?;
                let rows = stmt
                    .query_map(rusqlite::params!["org_demo", "d", "ios"], |r| {
                        r.get::<_, String>(3)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok::<_, StoreError>(rows)
            })
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("USING INDEX rounds_by_org_status (org_id=? AND status=?)"),
            "{plan}"
        );
        assert!(
            plan.contains("USING PRIMARY KEY (round_id=? AND device_id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
    }
}
