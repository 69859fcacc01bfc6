//! The event log: one row per change, written by the change's own transaction, so an
//! event exists exactly when its change committed.

use rusqlite::{Connection, params};
use serde_json::Value;

use super::StoreError;
use crate::domain::Timestamp;

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
pub fn append(conn: &Connection, event: &NewEvent<'_>) -> Result<i64, StoreError> {
    let seq: i64 = conn
        .prepare_cached(
            "INSERT INTO event_seqs (org_id, last_seq) VALUES (?1, 1) \
             ON CONFLICT (org_id) DO UPDATE SET last_seq = last_seq + 1 \
             RETURNING last_seq",
        )?
        .query_row([event.org_id], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO events (org_id, seq, type, device_id, at, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        event.org_id,
        seq,
        event.kind,
        event.device_id,
        event.at,
        event.data.to_string()
    ])?;
    Ok(seq)
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
                Ok(seqs)
            })
            .unwrap();
        assert_eq!(seqs, [1, 1, 2, 3]);
    }
}
