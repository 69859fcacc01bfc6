//! Devices: registration, lookup by identifier or id, listing, heartbeats.

use std::borrow::Cow;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::value::RawValue;

use super::{StoreError, keys, orgs, raw_json};
use crate::domain::{ApiKey, DeviceIdentifier, DeviceStatus, KeyKind, OrgId, Platform, Timestamp};

/// A device as stored. JSON columns stay raw text: they go to the client as they are.
#[derive(Debug)]
pub struct Device {
    pub id: String,
    pub org_id: OrgId,
    pub identifier: DeviceIdentifier,
    pub platform: Platform,
    pub status: DeviceStatus,
    pub capabilities: Box<RawValue>,
    pub metadata: Box<RawValue>,
    pub metrics: Option<Box<RawValue>>,
    pub last_heartbeat: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const DEVICE_COLUMNS: &str = "id, org_id, identifier, platform, status, capabilities, metadata, \
                              metrics, last_heartbeat, created_at, updated_at";

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        id: row.get(0)?,
        org_id: row.get(1)?,
        identifier: row.get(2)?,
        platform: row.get(3)?,
        status: row.get(4)?,
        capabilities: raw_json(row.get(5)?)?,
        metadata: raw_json(row.get(6)?)?,
        metrics: row.get::<_, Option<String>>(7)?.map(raw_json).transpose()?,
        last_heartbeat: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

/// What registration stores: the device and the digest of its key.
pub struct NewDevice<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub identifier: &'a str,
    pub platform: &'a str,
    pub capabilities_json: &'a str,
    pub metadata_json: &'a str,
    pub key: keys::NewKey<'a>,
    pub now: Timestamp,
}

/// Inserts a device and its key. [`StoreError::Duplicate`] when the identifier is taken in
/// the org; the caller's transaction then stores nothing.
pub fn insert(conn: &Connection, new: &NewDevice<'_>) -> Result<Device, StoreError> {
    let device = conn
        .prepare_cached(&format!(
            "INSERT INTO devices (id, org_id, identifier, platform, status, capabilities, \
             metadata, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?7, ?7) \
             RETURNING {DEVICE_COLUMNS}"
        ))?
        .query_row(
            params![
                new.id,
                new.org_id,
                new.identifier,
                new.platform,
                new.capabilities_json,
                new.metadata_json,
                new.now
            ],
            device_from_row,
        )?;
    keys::insert(conn, &new.key)?;
    Ok(device)
}

/// A device to register, every field parsed, and the device key it will carry.
pub struct Registration<'a> {
    pub org_id: &'a str,
    pub identifier: &'a DeviceIdentifier,
    pub platform: &'a Platform,
    /// A JSON object, as text.
    pub capabilities_json: &'a str,
    /// A JSON object, as text.
    pub metadata_json: &'a str,
    pub key: &'a ApiKey,
}

/// Registers a device with its key: the one path the API, seed files and
/// [`crate::testing::TestServer`] share. `Ok(None)` when the org does not exist;
/// [`StoreError::Duplicate`] when the identifier is taken in the org (or the key is
/// already stored); the caller's transaction then stores nothing.
pub fn register(
    conn: &Connection,
    registration: &Registration<'_>,
    now: Timestamp,
) -> Result<Option<Device>, StoreError> {
    debug_assert!(registration.key.kind() == KeyKind::Device);
    if !orgs::exists(conn, registration.org_id)? {
        return Ok(None);
    }
    // An identifier that is (in any spelling) the id of a device of the org could never be
    // reached by a path: the id wins (see `find`).
    if let Some(as_id) = DeviceRef::parse(registration.identifier.as_str()).id
        && id_exists(conn, registration.org_id, &as_id)?
    {
        return Err(StoreError::Duplicate);
    }
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let key_id = format!("key_{}", uuid::Uuid::now_v7().simple());
    let device = insert(
        conn,
        &NewDevice {
            id: &id,
            org_id: registration.org_id,
            identifier: registration.identifier.as_str(),
            platform: registration.platform.as_str(),
            capabilities_json: registration.capabilities_json,
            metadata_json: registration.metadata_json,
            key: keys::NewKey {
                id: &key_id,
                org_id: registration.org_id,
                kind: KeyKind::Device,
                device_id: Some(&id),
                prefix: registration.key.display_prefix(),
                digest: &registration.key.digest(),
                now,
            },
            now,
        },
    )?;
    Ok(Some(device))
}

/// What a `{device_id}` path segment names, by the one rule every route follows
/// (docs/api.md, "Device paths"): a segment that parses as a UUID in any spelling
/// (hyphenated or not, any case, braced, `urn:uuid:`) names the device of the org with
/// that `id` if there is one; otherwise the device whose identifier is the segment
/// (compared in NFC, as identifiers are stored).
#[derive(Debug)]
pub struct DeviceRef<'a> {
    /// The segment in NFC, for the identifier comparison.
    pub identifier: Cow<'a, str>,
    /// The segment as a device id (lowercase, hyphenated), if it parses as a UUID.
    pub id: Option<String>,
}

impl<'a> DeviceRef<'a> {
    pub fn parse(segment: &'a str) -> DeviceRef<'a> {
        DeviceRef {
            identifier: DeviceIdentifier::normalized(segment),
            id: uuid::Uuid::try_parse(segment)
                .ok()
                .map(|u| u.hyphenated().to_string()),
        }
    }
}

fn id_exists(conn: &Connection, org_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM devices WHERE id = ?1 AND org_id = ?2")?
        .query_row(params![id, org_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Finds the device of `org_id` that a path segment names ([`DeviceRef`]'s rule).
pub fn find(
    conn: &Connection,
    org_id: &str,
    reference: &str,
) -> Result<Option<Device>, StoreError> {
    find_ref(conn, org_id, &DeviceRef::parse(reference))
}

/// [`find`] for a segment already parsed.
pub fn find_ref(
    conn: &Connection,
    org_id: &str,
    reference: &DeviceRef<'_>,
) -> Result<Option<Device>, StoreError> {
    if let Some(id) = &reference.id {
        let by_id = conn
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1 AND org_id = ?2"
            ))?
            .query_row(params![id, org_id], device_from_row)
            .optional()?;
        if by_id.is_some() {
            return Ok(by_id);
        }
    }
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE org_id = ?1 AND identifier = ?2"
        ))?
        .query_row(params![org_id, reference.identifier], device_from_row)
        .optional()?)
}

/// One line of a device list.
#[derive(Debug)]
pub struct DeviceSummary {
    pub id: String,
    pub identifier: DeviceIdentifier,
    pub org_id: OrgId,
    pub platform: Platform,
    pub status: DeviceStatus,
    pub last_heartbeat: Option<Timestamp>,
}

/// Which devices of an org a list asks for, and which page.
pub struct ListQuery<'a> {
    pub org_id: &'a str,
    pub platform: Option<&'a Platform>,
    pub status: Option<DeviceStatus>,
    pub limit: u32,
    pub offset: u64,
    /// Keyset pagination: only devices registered after the device with this `id`.
    pub after: Option<&'a str>,
}

/// One page of an org's devices in registration order, and how many match in all. Both
/// come from one read transaction, so the total agrees with the page. `None` when
/// `query.after` names no device of the org.
pub fn list(
    conn: &Connection,
    query: &ListQuery<'_>,
) -> Result<Option<(Vec<DeviceSummary>, u64)>, StoreError> {
    let mut filter = String::from("org_id = ?1");
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&query.org_id];
    if let Some(platform) = &query.platform {
        args.push(platform);
        filter.push_str(&format!(" AND platform = ?{}", args.len()));
    }
    if let Some(status) = &query.status {
        args.push(status);
        filter.push_str(&format!(" AND status = ?{}", args.len()));
    }

    let tx = conn.unchecked_transaction()?;
    // The triggers in schema.sql keep device_counts, whose columns are the filters'.
    let total: i64 = tx
        .prepare_cached(&format!(
            "SELECT coalesce(sum(n), 0) FROM device_counts WHERE {filter}"
        ))?
        .query_row(args.as_slice(), |r| r.get(0))?;
    // The total counts every match; `after` only moves where the page starts.
    let after_seq: i64;
    let mut page_filter = filter.clone();
    if let Some(after) = query.after {
        let Some(seq) = tx
            .prepare_cached("SELECT seq FROM devices WHERE id = ?1 AND org_id = ?2")?
            .query_row(params![after, query.org_id], |r| r.get(0))
            .optional()?
        else {
            return Ok(None);
        };
        after_seq = seq;
        args.push(&after_seq);
        page_filter.push_str(&format!(" AND seq > ?{}", args.len()));
    }
    let limit = i64::from(query.limit);
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    args.push(&limit);
    args.push(&offset);
    // The offset is skipped in the inner query, over an index that holds every column it
    // reads (the filters and `seq`), so skipped devices cost an index entry each and not
    // a row; only the page's rows are read from the table.
    let page_sql = format!(
        "SELECT id, identifier, org_id, platform, status, last_heartbeat FROM devices \
         WHERE seq IN (SELECT seq FROM devices WHERE {page_filter} \
                       ORDER BY seq LIMIT ?{} OFFSET ?{}) \
         ORDER BY seq",
        args.len() - 1,
        args.len()
    );
    let devices = tx
        .prepare_cached(&page_sql)?
        .query_map(args.as_slice(), |row| {
            Ok(DeviceSummary {
                id: row.get(0)?,
                identifier: row.get(1)?,
                org_id: row.get(2)?,
                platform: row.get(3)?,
                status: row.get(4)?,
                last_heartbeat: row.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.finish()?;
    Ok(Some((devices, u64::try_from(total).unwrap_or(0))))
}

/// What one heartbeat records.
pub struct Heartbeat<'a> {
    pub status: DeviceStatus,
    pub metrics_json: &'a str,
    /// A JSON object merged into the device's metadata (`sdk_version` and the like), or
    /// `None` when the heartbeat carried none.
    pub metadata_patch_json: Option<&'a str>,
    pub now: Timestamp,
}

/// What a heartbeat's answer needs of the device it updated.
#[derive(Debug)]
pub struct HeartbeatRecorded {
    pub id: String,
    pub identifier: DeviceIdentifier,
    pub platform: Platform,
    pub status: DeviceStatus,
    pub last_heartbeat: Option<Timestamp>,
}

/// Which device a heartbeat is for: device `device_id` of `org_id` (a device key's own),
/// if `reference` in the request path names it by [`DeviceRef`]'s rule, as [`find`] reads
/// it.
pub struct HeartbeatTarget<'a> {
    pub org_id: &'a str,
    pub device_id: &'a str,
    pub reference: &'a DeviceRef<'a>,
}

/// Records a heartbeat: the device's status, its metrics snapshot (replacing the previous
/// one), its time, in one statement found by primary key. `None` if `target` does not
/// hold (the path names another device, or none).
pub fn record_heartbeat(
    conn: &Connection,
    target: &HeartbeatTarget<'_>,
    heartbeat: &Heartbeat<'_>,
) -> Result<Option<HeartbeatRecorded>, StoreError> {
    // The rule of `DeviceRef` and `find`: a UUID (?7, canonical) that is some device's id
    // names that device, even if another device has it as its identifier. `status` is left out of the SET: it is in two
    // indexes, which SQLite rewrites whenever a SET names their columns, and a heartbeat
    // almost never changes it; the rare one that does takes a second statement.
    const SQL: &str = "UPDATE devices SET metrics = ?4, last_heartbeat = ?5, updated_at = ?5, \
         metadata = CASE WHEN ?6 IS NULL THEN metadata ELSE json_patch(metadata, ?6) END \
         WHERE id = ?3 AND org_id = ?1 AND (id = ?7 OR (identifier = ?2 \
           AND (?7 IS NULL OR NOT EXISTS (SELECT 1 FROM devices AS other \
                                          WHERE other.id = ?7 AND other.org_id = ?1)))) \
         RETURNING id, identifier, platform, status, last_heartbeat";
    let recorded = conn
        .prepare_cached(SQL)?
        .query_row(
            params![
                target.org_id,
                target.reference.identifier,
                target.device_id,
                heartbeat.metrics_json,
                heartbeat.now,
                heartbeat.metadata_patch_json,
                target.reference.id
            ],
            |row| {
                Ok(HeartbeatRecorded {
                    id: row.get(0)?,
                    identifier: row.get(1)?,
                    platform: row.get(2)?,
                    status: row.get(3)?,
                    last_heartbeat: row.get(4)?,
                })
            },
        )
        .optional()?;
    let Some(mut recorded) = recorded else {
        return Ok(None);
    };
    if recorded.status != heartbeat.status {
        conn.prepare_cached("UPDATE devices SET status = ?2 WHERE id = ?1")?
            .execute(params![recorded.id, heartbeat.status])?;
        recorded.status = heartbeat.status;
    }
    Ok(Some(recorded))
}

/// How many devices `org_id` has, from the counts the triggers keep.
pub fn count_in_org(conn: &Connection, org_id: &str) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT coalesce(sum(n), 0) FROM device_counts WHERE org_id = ?1")?
        .query_row([org_id], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Every registered device, all orgs: for the metrics gauge. Summed from the counts the
/// triggers keep, so a scrape does not count a million rows.
pub fn count_all(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT coalesce(sum(n), 0) FROM device_counts")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes the devices of `org_id`, their keys and the org's training rounds (not the
/// org's own keys), and returns how many devices there were: an ephemeral server's reset
/// of one org.
pub fn delete_org_devices(conn: &Connection, org_id: &str) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "DELETE FROM round_participants
         WHERE round_id IN (SELECT id FROM rounds WHERE org_id = ?1)",
    )?
    .execute([org_id])?;
    conn.prepare_cached("DELETE FROM rounds WHERE org_id = ?1")?
        .execute([org_id])?;
    super::models::delete_org(conn, org_id)?;
    conn.prepare_cached("DELETE FROM api_keys WHERE org_id = ?1 AND kind = 'device'")?
        .execute([org_id])?;
    let deleted = conn
        .prepare_cached("DELETE FROM devices WHERE org_id = ?1")?
        .execute([org_id])?;
    Ok(deleted as u64)
}

/// Moves a device's `last_heartbeat` to `now` and nothing else: iOS's control heartbeat,
/// which carries no status or metrics.
pub fn touch(conn: &Connection, device_id: &str, now: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE devices SET last_heartbeat = ?2, updated_at = ?2 WHERE id = ?1")?
        .execute(params![device_id, now])?;
    Ok(())
}
