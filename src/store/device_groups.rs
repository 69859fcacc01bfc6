//! A device's groups, as iOS and Android read them (`GET /api/v1/devices/{id}/groups`):
//! devreg has no group objects, a device's labels are its groups. Each label `key: value`
//! is the dynamic group of the org's devices carrying that label, the same set the list
//! filter `label=KEY:VALUE` and a deployment's `target.labels` select. No HTTP here.

use super::Conn;
use super::acting::{self, NotActing};
use crate::domain::{Acting, Timestamp};

/// One label of the device, as a group of the org's devices that carry it.
#[derive(Debug, PartialEq, Eq)]
pub struct LabelGroup {
    pub key: String,
    pub value: String,
    /// How many of the org's devices carry the label (the device itself included).
    pub device_count: i64,
    /// The registration of its earliest-registered member.
    pub created_at: Timestamp,
    /// The latest change to any member.
    pub updated_at: Timestamp,
}

/// The groups of the device `acting` names, by the one own-device rule, ordered by key.
pub fn device_groups(conn: &Conn, acting: &Acting) -> Result<Vec<LabelGroup>, NotActing> {
    let device_id = acting::acting_device_id(conn, acting)?;
    Ok(conn.query_all(
        "SELECT mine.key, mine.value, count(*), min(d.created_at), max(d.updated_at) \
         FROM device_labels mine \
         JOIN device_labels l \
           ON l.org_id = mine.org_id AND l.key = mine.key AND l.value = mine.value \
         JOIN devices d ON d.id = l.device_id \
         WHERE mine.device_id = ?1 \
         GROUP BY mine.key, mine.value ORDER BY mine.key",
        &[&device_id],
        |row| {
            Ok(LabelGroup {
                key: row.get(0)?,
                value: row.get(1)?,
                device_count: row.get(2)?,
                created_at: row.get(3)?,
                updated_at: row.get(4)?,
            })
        },
    )?)
}
