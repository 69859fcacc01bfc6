//! Telemetry events: compact rows, deduplicated, with bounded retention per device and
//! per org, and the per-device summary retrieve shows. No HTTP here.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::acting::{self, NotActing};
use super::{Conn, Dialect, Row, StoreError};
use crate::domain::{Acting, Credential, OrgId, Timestamp};

/// 64 bits of the SHA-256 of `text`, as SQLite's integer: a dedupe or intern key.
pub fn key64(text: &str) -> i64 {
    let digest = Sha256::digest(text.as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The device an event is stored under.
#[derive(Debug, Clone)]
pub struct DeviceRef {
    pub seq: i64,
    pub id: String,
    pub org_id: OrgId,
}

fn device_ref(row: &Row<'_>) -> Result<DeviceRef, StoreError> {
    Ok(DeviceRef {
        seq: row.get(0)?,
        id: row.get(1)?,
        org_id: row.get(2)?,
    })
}

/// The device whose UUID is `id`.
pub fn device_by_id(conn: &Conn, id: &str) -> Result<Option<DeviceRef>, StoreError> {
    conn.query_opt(
        "SELECT seq, id, org_id FROM devices WHERE id = ?1",
        &[&id],
        device_ref,
    )
}

/// Why telemetry was not stored: the device it names is not one the caller may send
/// for ([`NotActing`]), or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    NotActing(#[from] NotActing),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        match self {
            Refusal::NotActing(e) => e.is_database_failure(),
            Refusal::Store(e) => e.is_database_failure(),
        }
    }
}

/// The device telemetry from `acting` is stored under, by the one rule of
/// [`acting::acting_device_id`] (an identifier in any Unicode spelling, or a UUID, of
/// the caller's org). A device credential's telemetry is its own device's whatever the
/// request names (the contract the SDKs were built against), so for it the name is not
/// asked: no name is that rule's "the credential's own device".
fn sending_device(conn: &Conn, acting: &Acting) -> Result<DeviceRef, NotActing> {
    let own;
    let acting = match (acting.credential.own_device(), &acting.named) {
        (Some(_), Some(_)) => {
            own = Acting {
                credential: acting.credential.clone(),
                named: None,
            };
            &own
        }
        _ => acting,
    };
    let id = acting::acting_device_id(conn, acting)?;
    device_by_id(conn, &id)?.ok_or_else(|| match &acting.named {
        Some(named) => NotActing::NotFound(named.clone()),
        None => NotActing::OwnDeviceGone,
    })
}

/// A batch of the device agent's uploader, parsed.
#[derive(Debug)]
pub struct Batch {
    /// [`key64`] of the batch's id.
    pub key: i64,
    /// What the batch is acknowledged through: its `last_seq`, or its largest
    /// `sequence_no`.
    pub acked: Option<i64>,
    pub events: Vec<NewEvent>,
}

/// What a batch came to.
#[derive(Debug)]
pub enum BatchOutcome {
    /// Stored now (events already stored count as duplicates).
    Stored {
        ingested: Ingested,
        acked: Option<i64>,
    },
    /// The device sent this batch before (within [`BATCH_MEMORY_SECS`]): nothing is
    /// stored, and it is acknowledged as it was then.
    Repeat { acked: Option<i64> },
}

/// The batch operation: the device `acting` names ([`sending_device`]), the batch stored
/// once under it and remembered, so that a batch sent again is acknowledged the same.
pub fn ingest_batch(
    conn: &Conn,
    acting: &Acting,
    batch: &Batch,
    retention: Retention,
    now: Timestamp,
) -> Result<BatchOutcome, Refusal> {
    let device = sending_device(conn, acting)?;
    if let Some(acked) = batch_seen(conn, device.seq, batch.key, now)? {
        return Ok(BatchOutcome::Repeat { acked });
    }
    let ingested = ingest(conn, &device, &batch.events, retention, now)?;
    remember_batch(conn, device.seq, batch.key, batch.acked, now)?;
    Ok(BatchOutcome::Stored {
        ingested,
        acked: batch.acked,
    })
}

/// One OTLP resource's log records, and the device its attributes name, as sent.
#[derive(Debug)]
pub struct LogGroup {
    pub device: Option<String>,
    pub events: Vec<NewEvent>,
}

/// What an OTLP request came to.
#[derive(Debug, Default)]
pub struct LogsIngested {
    pub ingested: Ingested,
    /// Records not stored because their resource names no device the caller may send
    /// for (or none, with an org key).
    pub unknown: u64,
}

/// The OTLP logs operation: each resource's records stored under the device it names
/// ([`sending_device`], with `credential`), or counted as unknown when there is none.
pub fn ingest_logs(
    conn: &Conn,
    credential: &Credential,
    groups: &[LogGroup],
    retention: Retention,
    now: Timestamp,
) -> Result<LogsIngested, StoreError> {
    let mut done = LogsIngested::default();
    for group in groups {
        let acting = Acting {
            credential: credential.clone(),
            named: group.device.clone(),
        };
        let device = match sending_device(conn, &acting) {
            Ok(device) => device,
            Err(NotActing::Store(e)) => return Err(e),
            Err(NotActing::NotFound(_) | NotActing::OwnDeviceGone | NotActing::Unnamed) => {
                done.unknown += group.events.len() as u64;
                continue;
            }
        };
        let one = ingest(conn, &device, &group.events, retention, now)?;
        done.ingested.stored += one.stored;
        done.ingested.duplicates += one.duplicates;
        done.ingested.dropped_device += one.dropped_device;
        done.ingested.dropped_org += one.dropped_org;
    }
    Ok(done)
}

/// One event to store, parsed.
#[derive(Debug)]
pub struct NewEvent {
    pub event_type: String,
    pub at_ms: i64,
    /// The OTLP resource's attributes (or a batch's boot id), a JSON object as text.
    pub resource: Option<String>,
    /// [`key64`] of the event's own id, when it has one.
    pub event_key: Option<i64>,
    /// Everything else about the event, a compact JSON object as text.
    pub body: String,
}

/// How many events are kept; 0 means no bound.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub per_device: u64,
    pub per_org: u64,
}

/// What one ingest did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub stored: u64,
    pub duplicates: u64,
    /// Oldest events deleted because the device was over its bound.
    pub dropped_device: u64,
    /// Oldest events of the org deleted because the org was over its bound.
    pub dropped_org: u64,
}

/// The interned id of an event type, interning it the first time. Looked up first: a
/// type is new once, and the insert that finds it present still costs a unique probe.
fn type_id(conn: &Conn, name: &str) -> Result<i64, StoreError> {
    const FIND: &str = "SELECT id FROM telemetry_types WHERE name = ?1";
    if let Some(id) = conn.query_opt(FIND, &[&name], |r| r.get(0))? {
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO telemetry_types (name) VALUES (?1) ON CONFLICT DO NOTHING",
        &[&name],
    )?;
    conn.query_row(FIND, &[&name], |r| r.get(0))
}

/// The interned id of a device's resource attributes, as [`type_id`].
fn resource_id(conn: &Conn, device_seq: i64, attrs: &str) -> Result<i64, StoreError> {
    const FIND: &str = "SELECT id FROM telemetry_resources WHERE device_seq = ?1 AND digest = ?2";
    let digest = key64(attrs);
    if let Some(id) = conn.query_opt(FIND, &[&device_seq, &digest], |r| r.get(0))? {
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO telemetry_resources (device_seq, digest, attrs) VALUES (?1, ?2, ?3) \
         ON CONFLICT DO NOTHING",
        &[&device_seq, &digest, &attrs],
    )?;
    conn.query_row(FIND, &[&device_seq, &digest], |r| r.get(0))
}

/// An `experiment.*` record's report to its experiment (`experiments::record_telemetry`),
/// from the attributes its stored body keeps.
fn experiment_report(
    conn: &Conn,
    device: &DeviceRef,
    event: &NewEvent,
    now: Timestamp,
) -> Result<(), StoreError> {
    let body: serde_json::Value = serde_json::from_str(&event.body).unwrap_or_default();
    let Some(attributes) = body
        .get("attributes")
        .and_then(serde_json::Value::as_object)
    else {
        return Ok(());
    };
    super::experiments::record_telemetry(
        conn,
        device.org_id.as_str(),
        &device.id,
        &event.event_type,
        attributes,
        event.at_ms,
        now,
    )
}

/// Stores `events` for `device` (those whose event key it already holds are duplicates),
/// then deletes the oldest events over the device's and the org's bounds.
fn ingest(
    conn: &Conn,
    device: &DeviceRef,
    events: &[NewEvent],
    retention: Retention,
    now: Timestamp,
) -> Result<Ingested, StoreError> {
    let mut done = Ingested::default();
    let mut types: HashMap<&str, i64> = HashMap::new();
    let mut resources: HashMap<&str, i64> = HashMap::new();
    // Per type: events stored and the latest time among them.
    let mut per_type: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut latest: Option<i64> = None;
    for event in events {
        let type_id = match types.get(event.event_type.as_str()) {
            Some(id) => *id,
            None => {
                let id = type_id(conn, &event.event_type)?;
                types.insert(&event.event_type, id);
                id
            }
        };
        let resource = match event.resource.as_deref() {
            None => None,
            Some(attrs) => Some(match resources.get(attrs) {
                Some(id) => *id,
                None => {
                    let id = resource_id(conn, device.seq, attrs)?;
                    resources.insert(attrs, id);
                    id
                }
            }),
        };
        let inserted = conn.execute(
            "INSERT INTO telemetry_events (device_seq, type_id, at_ms, resource_id, event_key, \
             body) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            &[
                &device.seq,
                &type_id,
                &event.at_ms,
                &resource,
                &event.event_key,
                &event.body,
            ],
        )?;
        if inserted == 0 {
            done.duplicates += 1;
            continue;
        }
        done.stored += 1;
        // issue 27 (sdk3): an experiment's telemetry also counts in its results.
        if super::experiments::TELEMETRY_EVENTS.contains(&event.event_type.as_str()) {
            experiment_report(conn, device, event, now)?;
        }
        let entry = per_type.entry(type_id).or_insert((0, i64::MIN));
        entry.0 += 1;
        entry.1 = entry.1.max(event.at_ms);
        latest = Some(latest.map_or(event.at_ms, |l: i64| l.max(event.at_ms)));
    }
    let stored = done.stored as i64;
    // Upserts name the table in SET (PostgreSQL finds a bare column ambiguous there), and
    // SQLite's two-argument max() is PostgreSQL's GREATEST().
    let (device_sql, type_sql) = match conn.dialect() {
        Dialect::Sqlite => (
            "INSERT INTO telemetry_devices (device_seq, org_id, stored, received, last_event_ms, \
             last_received_at) VALUES (?1, ?2, ?3, ?3, ?4, ?5) \
             ON CONFLICT (device_seq) DO UPDATE SET stored = telemetry_devices.stored + ?3, \
             received = telemetry_devices.received + ?3, \
             last_event_ms = max(coalesce(telemetry_devices.last_event_ms, ?4), \
                                 coalesce(?4, telemetry_devices.last_event_ms)), \
             last_received_at = ?5 RETURNING stored",
            "INSERT INTO telemetry_type_counts (device_seq, type_id, received, last_event_ms) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device_seq, type_id) DO UPDATE \
             SET received = telemetry_type_counts.received + ?3, \
             last_event_ms = max(telemetry_type_counts.last_event_ms, ?4)",
        ),
        Dialect::Postgres => (
            "INSERT INTO telemetry_devices (device_seq, org_id, stored, received, last_event_ms, \
             last_received_at) VALUES (?1, ?2, ?3, ?3, ?4, ?5) \
             ON CONFLICT (device_seq) DO UPDATE SET stored = telemetry_devices.stored + ?3, \
             received = telemetry_devices.received + ?3, \
             last_event_ms = GREATEST(telemetry_devices.last_event_ms, ?4), \
             last_received_at = ?5 RETURNING stored",
            "INSERT INTO telemetry_type_counts (device_seq, type_id, received, last_event_ms) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device_seq, type_id) DO UPDATE \
             SET received = telemetry_type_counts.received + ?3, \
             last_event_ms = GREATEST(telemetry_type_counts.last_event_ms, ?4)",
        ),
    };
    // What the device and its org hold now, for the bounds below.
    let device_stored: i64 = conn.query_row(
        device_sql,
        &[&device.seq, &device.org_id, &stored, &latest, &now],
        |r| r.get(0),
    )?;
    for (type_id, (n, last)) in &per_type {
        conn.execute(type_sql, &[&device.seq, type_id, n, last])?;
    }
    let mut org_stored: i64 = conn.query_row(
        "INSERT INTO telemetry_orgs (org_id, stored) VALUES (?1, ?2) \
         ON CONFLICT (org_id) DO UPDATE SET stored = telemetry_orgs.stored + ?2 \
         RETURNING stored",
        &[&device.org_id, &stored],
        |r| r.get(0),
    )?;

    if retention.per_device > 0 {
        done.dropped_device = trim_device(conn, device, device_stored, retention.per_device)?;
        org_stored -= done.dropped_device as i64;
    }
    if retention.per_org > 0 {
        done.dropped_org = trim_org(conn, device.org_id.as_str(), org_stored, retention.per_org)?;
    }
    // Only a drop (or a duplicate, which can intern a resource no stored event uses) can
    // leave the device more interned rows than events; otherwise every new row has one.
    if done.dropped_device > 0 || done.dropped_org > 0 || done.duplicates > 0 {
        prune_unused(conn, device.seq)?;
    }
    Ok(done)
}

/// Deletes the device's OTLP resources and per-type counts that none of its stored events
/// uses, once they outnumber its stored events: retention bounds what a device adds to
/// them (a new resource or event type per event would otherwise grow both, and its
/// summary, without bound), so they hold at most as many rows as its retained events. A
/// type's count goes with the type's last retained event; on SQLite, the type's name goes
/// with the last device that counts it (`telemetry_forget_type`).
fn prune_unused(conn: &Conn, device_seq: i64) -> Result<(), StoreError> {
    let (stored, resources, types): (i64, i64, i64) = conn.query_row(
        "SELECT coalesce((SELECT stored FROM telemetry_devices WHERE device_seq = ?1), 0), \
         (SELECT count(*) FROM telemetry_resources WHERE device_seq = ?1), \
         (SELECT count(*) FROM telemetry_type_counts WHERE device_seq = ?1)",
        &[&device_seq],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if resources > stored {
        conn.execute(
            "DELETE FROM telemetry_resources WHERE device_seq = ?1 AND id NOT IN \
             (SELECT resource_id FROM telemetry_events \
              WHERE device_seq = ?1 AND resource_id IS NOT NULL)",
            &[&device_seq],
        )?;
    }
    if types > stored {
        conn.execute(
            "DELETE FROM telemetry_type_counts WHERE device_seq = ?1 AND type_id NOT IN \
             (SELECT type_id FROM telemetry_events WHERE device_seq = ?1)",
            &[&device_seq],
        )?;
    }
    Ok(())
}

/// Deletes the device's oldest events beyond `keep`, of the `stored` it holds; how many.
fn trim_device(conn: &Conn, device: &DeviceRef, stored: i64, keep: u64) -> Result<u64, StoreError> {
    let excess = stored - i64::try_from(keep).unwrap_or(i64::MAX);
    if excess <= 0 {
        return Ok(0);
    }
    let deleted = conn.execute(
        "DELETE FROM telemetry_events WHERE seq IN (SELECT seq FROM telemetry_events \
             WHERE device_seq = ?1 ORDER BY seq LIMIT ?2)",
        &[&device.seq, &excess],
    )? as i64;
    conn.execute(
        "UPDATE telemetry_devices SET stored = stored - ?2, dropped = dropped + ?2 \
         WHERE device_seq = ?1",
        &[&device.seq, &deleted],
    )?;
    conn.execute(
        "UPDATE telemetry_orgs SET stored = stored - ?2 WHERE org_id = ?1",
        &[&device.org_id, &deleted],
    )?;
    Ok(deleted as u64)
}

/// The org's oldest events, deleted. On SQLite `CROSS JOIN` keeps the events the outer
/// loop, walked in arrival order until the limit: with a plain `JOIN` the planner started
/// from the org's devices and sorted every event the org held (5,000,000 at the default
/// bound) for each batch, and ingestion all but stopped once an org reached its bound.
/// PostgreSQL does not take `CROSS JOIN ... ON`; its planner walks the primary key for an
/// `EXISTS` under a small limit.
const TRIM_ORG_SQLITE: &str = "DELETE FROM telemetry_events WHERE seq IN (SELECT e.seq \
     FROM telemetry_events e CROSS JOIN devices d ON d.seq = e.device_seq \
     WHERE d.org_id = ?1 ORDER BY e.seq LIMIT ?2) RETURNING device_seq";
const TRIM_ORG_POSTGRES: &str = "DELETE FROM telemetry_events WHERE seq IN (SELECT e.seq \
     FROM telemetry_events e WHERE EXISTS (SELECT 1 FROM devices d \
     WHERE d.seq = e.device_seq AND d.org_id = ?1) ORDER BY e.seq LIMIT ?2) \
     RETURNING device_seq";

/// Deletes the org's oldest events (across its devices, in arrival order) beyond `keep`,
/// of the `stored` it holds.
/// The walk goes through arrival order and skips other orgs' events, so it costs the
/// events it deletes plus the other orgs' events older than them.
fn trim_org(conn: &Conn, org_id: &str, stored: i64, keep: u64) -> Result<u64, StoreError> {
    let excess = stored - i64::try_from(keep).unwrap_or(i64::MAX);
    if excess <= 0 {
        return Ok(0);
    }
    let mut per_device: HashMap<i64, i64> = HashMap::new();
    let sql = match conn.dialect() {
        Dialect::Sqlite => TRIM_ORG_SQLITE,
        Dialect::Postgres => TRIM_ORG_POSTGRES,
    };
    let deleted: Vec<i64> = conn.query_all(sql, &[&org_id, &excess], |row| row.get(0))?;
    for device_seq in deleted {
        *per_device.entry(device_seq).or_default() += 1;
    }
    let mut total = 0;
    for (device_seq, n) in &per_device {
        conn.execute(
            "UPDATE telemetry_devices SET stored = stored - ?2, dropped = dropped + ?2 \
             WHERE device_seq = ?1",
            &[device_seq, n],
        )?;
        total += n;
    }
    conn.execute(
        "UPDATE telemetry_orgs SET stored = stored - ?2 WHERE org_id = ?1",
        &[&org_id, &total],
    )?;
    Ok(total as u64)
}

/// How long a batch id is remembered: the SDK's uploader retries within minutes.
pub const BATCH_MEMORY_SECS: i64 = 24 * 60 * 60;

/// The ack a batch already seen got: `Some(acked)` if `batch_key` was seen for the device
/// in the last [`BATCH_MEMORY_SECS`].
fn batch_seen(
    conn: &Conn,
    device_seq: i64,
    batch_key: i64,
    now: Timestamp,
) -> Result<Option<Option<i64>>, StoreError> {
    conn.query_opt(
        "SELECT acked_through FROM telemetry_batches \
         WHERE device_seq = ?1 AND batch_key = ?2 AND received_at >= ?3",
        &[&device_seq, &batch_key, &(now.0 - BATCH_MEMORY_SECS)],
        |r| r.get(0),
    )
}

/// Remembers a batch (again, if it was forgotten). Batches older than
/// [`BATCH_MEMORY_SECS`] no longer count ([`batch_seen`]) and the sweep deletes them
/// ([`forget_batches`]): deleting them here cost every batch a walk over its device's
/// day of batches (1,440 at the SDK's pace).
fn remember_batch(
    conn: &Conn,
    device_seq: i64,
    batch_key: i64,
    acked_through: Option<i64>,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO telemetry_batches (device_seq, batch_key, acked_through, received_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device_seq, batch_key) DO UPDATE \
         SET acked_through = excluded.acked_through, received_at = excluded.received_at",
        &[&device_seq, &batch_key, &acked_through, &now],
    )?;
    Ok(())
}

/// Deletes up to `limit` remembered batches older than [`BATCH_MEMORY_SECS`] before
/// `now`, oldest first; how many.
pub fn forget_batches(conn: &Conn, now: Timestamp, limit: u32) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM telemetry_batches WHERE (device_seq, batch_key) IN \
         (SELECT device_seq, batch_key FROM telemetry_batches WHERE received_at < ?1 \
          ORDER BY received_at LIMIT ?2)",
        &[&(now.0 - BATCH_MEMORY_SECS), &i64::from(limit)],
    )
}

/// A stored event as the listing shows it.
#[derive(Debug)]
pub struct StoredEvent {
    pub seq: i64,
    pub event_type: String,
    pub at_ms: i64,
    pub resource: Option<String>,
    pub body: String,
}

/// A page of the device's events after `after`, oldest first, of one type if asked.
pub fn list(
    conn: &Conn,
    device_seq: i64,
    after: i64,
    limit: u32,
    event_type: Option<&str>,
) -> Result<Vec<StoredEvent>, StoreError> {
    let type_filter: Option<i64> = match event_type {
        None => None,
        Some(name) => {
            let id = conn.query_opt(
                "SELECT id FROM telemetry_types WHERE name = ?1",
                &[&name],
                |r| r.get(0),
            )?;
            match id {
                Some(id) => Some(id),
                None => return Ok(Vec::new()),
            }
        }
    };
    conn.query_all(
        "SELECT e.seq, t.name, e.at_ms, r.attrs, e.body FROM telemetry_events e \
         JOIN telemetry_types t ON t.id = e.type_id \
         LEFT JOIN telemetry_resources r ON r.id = e.resource_id \
         WHERE e.device_seq = ?1 AND e.seq > ?2 AND (?3 IS NULL OR e.type_id = ?3) \
         ORDER BY e.seq LIMIT ?4",
        &[&device_seq, &after, &type_filter, &i64::from(limit)],
        |r| {
            Ok(StoredEvent {
                seq: r.get(0)?,
                event_type: r.get(1)?,
                at_ms: r.get(2)?,
                resource: r.get(3)?,
                body: r.get(4)?,
            })
        },
    )
}

/// Which of a device's events a listing asks for: the command its handler builds.
#[derive(Debug)]
pub struct EventsPage {
    /// Only events after this `seq`.
    pub after: i64,
    pub limit: u32,
    /// Only events of this type.
    pub event_type: Option<String>,
}

/// A page of the events of the device `acting` names, and that device's id.
pub fn device_events(
    conn: &Conn,
    acting: &crate::domain::Acting,
    page: &EventsPage,
) -> Result<(String, Vec<StoredEvent>), super::acting::NotActing> {
    let device = super::acting::acting_device(conn, acting)?;
    let Some(stored) = device_by_id(conn, &device.id)? else {
        // Deleted since it was found: as if it had never been.
        let named = acting.named.clone().unwrap_or(device.id);
        return Err(super::acting::NotActing::NotFound(named));
    };
    let events = list(
        conn,
        stored.seq,
        page.after,
        page.limit,
        page.event_type.as_deref(),
    )?;
    Ok((device.id, events))
}

/// A device's telemetry at a glance.
#[derive(Debug, Clone)]
pub struct Summary {
    pub received: i64,
    pub stored: i64,
    pub dropped: i64,
    pub last_event_ms: Option<i64>,
    pub last_received_at: Option<Timestamp>,
    /// (type, events received, latest event time in ms), by type name.
    pub by_type: Vec<(String, i64, i64)>,
}

/// The summary of the device whose UUID is `device_id`; `None` before its first event.
pub fn summary(conn: &Conn, device_id: &str) -> Result<Option<Summary>, StoreError> {
    let head = conn.query_opt(
        "SELECT t.device_seq, t.received, t.stored, t.dropped, t.last_event_ms, \
             t.last_received_at FROM telemetry_devices t JOIN devices d ON d.seq = t.device_seq \
             WHERE d.id = ?1",
        &[&device_id],
        |r| {
            Ok((
                r.get::<i64>(0)?,
                Summary {
                    received: r.get(1)?,
                    stored: r.get(2)?,
                    dropped: r.get(3)?,
                    last_event_ms: r.get(4)?,
                    last_received_at: r.get(5)?,
                    by_type: Vec::new(),
                },
            ))
        },
    )?;
    let Some((device_seq, mut summary)) = head else {
        return Ok(None);
    };
    summary.by_type = conn.query_all(
        "SELECT t.name, c.received, c.last_event_ms FROM telemetry_type_counts c \
         JOIN telemetry_types t ON t.id = c.type_id WHERE c.device_seq = ?1 ORDER BY t.name",
        &[&device_seq],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(Some(summary))
}

/// The inference-event operation (`POST /api/v1/inference/events`, Python's streaming
/// client and Android): one event stored under the device `acting` names
/// ([`sending_device`]), a duplicate when the same event was stored before.
pub fn ingest_inference_event(
    conn: &Conn,
    acting: &Acting,
    event: &NewEvent,
    retention: Retention,
    now: Timestamp,
) -> Result<Ingested, Refusal> {
    let device = sending_device(conn, acting)?;
    Ok(ingest(
        conn,
        &device,
        std::slice::from_ref(event),
        retention,
        now,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Db, MEMORY};

    #[test]
    fn trimming_an_org_walks_its_events_in_arrival_order_without_sorting_them() {
        let db = Db::open(MEMORY, 1).unwrap();
        let plan: Vec<String> = db
            .read_sync(|conn| {
                conn.query_all(
                    &format!("EXPLAIN QUERY PLAN {TRIM_ORG_SQLITE}"),
                    &[&"org", &20_i64],
                    |r| r.get(3),
                )
            })
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("SCAN e"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
