//! The event log: one row per change, written by the change's own transaction, so an
//! event exists exactly when its change committed.

use serde_json::Value;
use serde_json::value::RawValue;

use super::{Conn, Dialect, StoreError};
use crate::domain::{OrgId, Timestamp};

/// Every event type the log holds, as `type=` filters name them.
pub const TYPES: &[&str] = &[
    "device.registered",
    "device.updated",
    "device.deleted",
    "device.key_issued",
    "device.status_changed",
    "device.connectivity_changed",
    "round.started",
    "round.joined",
    "round.update_received",
    "round.completed",
    "round.cancelled",
    "deployment.created",
    "deployment.cancelled",
    "device.observed_state_changed",
    "model.version_deleted",
    "model.deleted",
    "device.reregistered",
    "experiment.created",
    "experiment.started",
    "experiment.paused",
    "experiment.resumed",
    "experiment.completed",
    "experiment.cancelled",
    "org.device_policy_updated",
    "org.device_profiles_updated",
];

/// An event to append: its type (`device.registered`, ...), the device it is about (its
/// server UUID), and its data (a JSON object).
pub struct NewEvent<'a> {
    pub org_id: &'a str,
    pub kind: &'a str,
    pub device_id: Option<&'a str>,
    pub at: Timestamp,
    pub data: &'a Value,
}

/// Appends an event to its org's log and returns its `seq`: one more than the org's last,
/// counted in `event_seqs` so a number is never given twice, even after retention.
///
/// On PostgreSQL the upsert locks the org's `event_seqs` row until the transaction ends,
/// so the org's events commit in `seq` order, whichever instance writes them: a reader
/// that has seen seq N has seen every seq below it.
pub fn append(conn: &Conn, event: &NewEvent<'_>) -> Result<i64, StoreError> {
    let seq: i64 = conn.query_row(
        "INSERT INTO event_seqs (org_id, last_seq) VALUES (?1, 1) \
         ON CONFLICT (org_id) DO UPDATE SET last_seq = event_seqs.last_seq + 1 \
         RETURNING last_seq",
        &[&event.org_id],
        |r| r.get(0),
    )?;
    conn.execute(
        "INSERT INTO events (org_id, seq, type, device_id, at, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            &event.org_id,
            &seq,
            &event.kind,
            &event.device_id,
            &event.at,
            &event.data.to_string(),
        ],
    )?;
    super::engine::note_appended();
    Ok(seq)
}

/// An event as stored.
#[derive(Debug, serde::Serialize)]
pub struct Event {
    pub seq: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub org_id: OrgId,
    pub device_id: Option<String>,
    pub at: Timestamp,
    pub data: Box<RawValue>,
}

/// Which events of an org to read: oldest first after `after`.
struct EventQuery<'a> {
    pub org_id: &'a str,
    pub after: i64,
    pub limit: u32,
    pub kind: Option<&'a str>,
    pub device_id: Option<&'a str>,
}

/// Up to `limit` events of the org after seq `after`, oldest first.
fn list(conn: &Conn, query: &EventQuery<'_>) -> Result<Vec<Event>, StoreError> {
    conn.query_all(
        "SELECT seq, type, org_id, device_id, at, data FROM events \
         WHERE org_id = ?1 AND seq > ?2 AND (?3 IS NULL OR type = ?3) \
           AND (?4 IS NULL OR device_id = ?4) \
         ORDER BY seq LIMIT ?5",
        &[
            &query.org_id,
            &query.after,
            &query.kind,
            &query.device_id,
            &i64::from(query.limit),
        ],
        |row| {
            Ok(Event {
                seq: row.get(0)?,
                kind: row.get(1)?,
                org_id: row.get(2)?,
                device_id: row.get(3)?,
                at: row.get(4)?,
                data: row.json(5)?,
            })
        },
    )
}

/// What a reader of an org's log asks for, parsed: events after `after`, of one type
/// and about one device if asked.
#[derive(Debug, Clone)]
pub struct Filter {
    pub org_id: String,
    pub after: i64,
    pub limit: u32,
    pub kind: Option<&'static str>,
    pub device: Option<DeviceFilter>,
}

/// The device a reader's events are about.
#[derive(Debug, Clone)]
pub enum DeviceFilter {
    /// Its UUID, normalised: also a deleted device's.
    Id(String),
    /// An identifier (any Unicode spelling) of a device of the org, resolved to its UUID
    /// by [`resolve`].
    Named(String),
}

/// Why a reader's events cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The filter names a device the org does not have; holds the name as sent.
    #[error("no device {0:?} in the org")]
    NoDevice(String),
    /// The reader's position is before the retained log: events after it are not all
    /// kept.
    #[error("events of org {org_id} up to seq {trimmed_through} are past retention")]
    PastRetention {
        org_id: String,
        after: i64,
        trimmed_through: i64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        matches!(self, Refusal::Store(e) if e.is_database_failure())
    }
}

/// The UUID of the device `filter` is about, if any (a named device found by the rule of
/// [`super::devices::find`]), once its position is checked against retention.
fn check(conn: &Conn, filter: &Filter) -> Result<Option<String>, Refusal> {
    let device_id = match &filter.device {
        None => None,
        Some(DeviceFilter::Id(id)) => Some(id.clone()),
        Some(DeviceFilter::Named(reference)) => Some(
            super::devices::find(conn, &filter.org_id, reference)?
                .ok_or_else(|| Refusal::NoDevice(reference.clone()))?
                .id,
        ),
    };
    let trimmed_through = trimmed_through(conn, &filter.org_id)?;
    if filter.after < trimmed_through {
        return Err(Refusal::PastRetention {
            org_id: filter.org_id.clone(),
            after: filter.after,
            trimmed_through,
        });
    }
    Ok(device_id)
}

/// `filter` ready to read from: its device named by UUID, its position checked against
/// retention. For a stream, before it starts.
pub fn resolve(conn: &Conn, mut filter: Filter) -> Result<Filter, Refusal> {
    filter.device = check(conn, &filter)?.map(DeviceFilter::Id);
    Ok(filter)
}

/// The read operation: the page of events `filter` asks for, oldest first.
pub fn read(conn: &Conn, filter: &Filter) -> Result<Vec<Event>, Refusal> {
    let device_id = check(conn, filter)?;
    Ok(list(
        conn,
        &EventQuery {
            org_id: &filter.org_id,
            after: filter.after,
            limit: filter.limit,
            kind: filter.kind,
            device_id: device_id.as_deref(),
        },
    )?)
}

/// The last seq retention removed from the org's log (0 when it removed none): a reader
/// after an older seq has missed events.
fn trimmed_through(conn: &Conn, org_id: &str) -> Result<i64, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT trimmed_through FROM event_retention WHERE org_id = ?1",
            &[&org_id],
            |r| r.get(0),
        )?
        .unwrap_or(0))
}

/// What an org's log holds past a position: every event with `from < seq <= to`.
#[derive(Debug)]
pub struct Since {
    pub from: i64,
    pub to: i64,
    pub events: Vec<Event>,
}

/// Every event of `org_id` after seq `position` up to the log's head, read `step` at a
/// time, all types and devices: for the event streams' one shared read. Without a
/// position, none, from the head. Where retention removed events after `position`, none,
/// from the head: `from` past `position` says there is a gap.
pub fn since(
    conn: &Conn,
    org_id: &str,
    position: Option<i64>,
    step: u32,
) -> Result<Since, StoreError> {
    let head = last_seq(conn, org_id)?;
    let position = match position {
        Some(position) if position >= trimmed_through(conn, org_id)? => position,
        // no position, or a gap: none, from the head
        _ => {
            return Ok(Since {
                from: head,
                to: head,
                events: Vec::new(),
            });
        }
    };
    let mut events = Vec::new();
    let mut at = position;
    while at < head {
        let page = list(
            conn,
            &EventQuery {
                org_id,
                after: at,
                limit: step,
                kind: None,
                device_id: None,
            },
        )?;
        let Some(last) = page.last() else {
            // Nothing kept up to the head: nothing in between.
            break;
        };
        at = last.seq;
        events.extend(page);
    }
    Ok(Since {
        from: position,
        to: head.max(position),
        events,
    })
}

/// The last seq given in the org (0 before its first event).
pub fn last_seq(conn: &Conn, org_id: &str) -> Result<i64, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT last_seq FROM event_seqs WHERE org_id = ?1",
            &[&org_id],
            |r| r.get(0),
        )?
        .unwrap_or(0))
}

/// Removes events older than `before`, at most `max` of them (the caller repeats while
/// it returns `max`), recording per org where its retained log now starts.
pub fn trim(conn: &Conn, before: Timestamp, max: u32) -> Result<usize, StoreError> {
    let doomed: Vec<(String, i64)> = conn.query_all(
        "SELECT org_id, seq FROM events WHERE at < ?1 ORDER BY at LIMIT ?2",
        &[&before, &i64::from(max)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    // SQLite's two-argument max() is PostgreSQL's GREATEST().
    let upsert = match conn.dialect() {
        Dialect::Sqlite => {
            "INSERT INTO event_retention (org_id, trimmed_through) VALUES (?1, ?2) \
             ON CONFLICT (org_id) DO UPDATE SET trimmed_through = \
                 max(trimmed_through, excluded.trimmed_through)"
        }
        Dialect::Postgres => {
            "INSERT INTO event_retention (org_id, trimmed_through) VALUES (?1, ?2) \
             ON CONFLICT (org_id) DO UPDATE SET trimmed_through = \
                 GREATEST(event_retention.trimmed_through, excluded.trimmed_through)"
        }
    };
    for (org_id, seq) in &doomed {
        conn.execute(
            "DELETE FROM events WHERE org_id = ?1 AND seq = ?2",
            &[org_id, seq],
        )?;
        conn.execute(upsert, &[org_id, seq])?;
    }
    Ok(doomed.len())
}

/// Forgets an org's events (an ephemeral server's reset). Its seq keeps counting, so no
/// number is given twice.
pub fn delete_org_events(conn: &Conn, org_id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM events WHERE org_id = ?1", &[&org_id])?;
    conn.execute("DELETE FROM event_retention WHERE org_id = ?1", &[&org_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Db, MEMORY};

    #[test]
    fn seq_counts_each_org_from_one() {
        let db = Db::open(MEMORY, 1).unwrap();
        let data = serde_json::json!({});
        let seqs = db
            .write_sync(|tx| {
                let mut seqs = Vec::new();
                for org in ["a", "b", "a", "a"] {
                    seqs.push(append(
                        tx,
                        &NewEvent {
                            org_id: org,
                            kind: "device.registered",
                            device_id: None,
                            at: Timestamp(1),
                            data: &data,
                        },
                    )?);
                }
                Ok::<_, StoreError>(seqs)
            })
            .unwrap();
        assert_eq!(seqs, [1, 1, 2, 3]);
    }
}
