//! Devices: registration, lookup by identifier or id, listing, heartbeats, changes,
//! re-keying and deletion, and the events each of them writes.

use serde_json::json;
use serde_json::value::RawValue;

pub use super::acting::{
    Device, DeviceRef, NotActing, acting_device, acting_device_id, find, find_ref,
};
use super::acting::{device_from_row, find_by_id};
use super::events::{self, NewEvent};
use super::{Conn, Dialect, Param, Row, StoreError, keys, orgs};
use crate::domain::{
    Acting, ApiKey, Connectivity, ConnectivityRule, DeviceIdentifier, DeviceStatus, KeyKind,
    LabelFilter, Labels, OrgId, Platform, Timestamp,
};

/// What registration stores: the device and the digest of its key.
pub struct NewDevice<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub identifier: &'a str,
    pub platform: &'a str,
    pub capabilities_json: &'a str,
    pub metadata_json: &'a str,
    pub labels: &'a Labels,
    pub key: keys::NewKey<'a>,
    pub now: Timestamp,
}

/// Inserts a device, its labels and its key; it starts `offline` (no heartbeat yet). [`StoreError::Duplicate`] when the identifier is taken in
/// the org; the caller's transaction then stores nothing.
pub fn insert(conn: &Conn, new: &NewDevice<'_>) -> Result<Device, StoreError> {
    const SQL: &str = "INSERT INTO devices (id, org_id, identifier, platform, status, \
         capabilities, metadata, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6, ?7, ?7) \
         RETURNING id, org_id, identifier, platform, status, capabilities, metadata, \
         metrics, last_heartbeat, created_at, updated_at";
    let device = conn.query_row(
        SQL,
        &[
            &new.id,
            &new.org_id,
            &new.identifier,
            &new.platform,
            &new.capabilities_json,
            &new.metadata_json,
            &new.now,
        ],
        device_from_row,
    )?;
    keys::insert(conn, &new.key)?;
    insert_labels(conn, new.id, new.org_id, new.labels)?;
    conn.execute(
        "INSERT INTO device_connectivity (device_id, org_id, state) VALUES (?1, ?2, 'offline')",
        &[&new.id, &new.org_id],
    )?;
    Ok(device)
}

fn insert_labels(
    conn: &Conn,
    device_id: &str,
    org_id: &str,
    labels: &Labels,
) -> Result<(), StoreError> {
    for (key, value) in labels.iter() {
        conn.execute(
            "INSERT INTO device_labels (device_id, org_id, device_seq, key, value) \
             SELECT id, org_id, seq, ?3, ?4 FROM devices WHERE id = ?1 AND org_id = ?2",
            &[&device_id, &org_id, &key, &value],
        )?;
    }
    Ok(())
}

/// A device's labels.
pub fn labels_of(conn: &Conn, device_id: &str) -> Result<Labels, StoreError> {
    let pairs = conn.query_all(
        "SELECT key, value FROM device_labels WHERE device_id = ?1",
        &[&device_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Labels::stored(pairs))
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
    pub labels: &'a Labels,
    pub key: &'a ApiKey,
}

/// Registers a device with its key and writes `device.registered`: the one path the API,
/// seed files and [`crate::testing::TestServer`] share. `Ok(None)` when the org does not exist;
/// [`StoreError::Duplicate`] when the identifier is taken in the org (or the key is
/// already stored); the caller's transaction then stores nothing.
pub fn register(
    conn: &Conn,
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
            labels: registration.labels,
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
    events::append(
        conn,
        &NewEvent {
            org_id: registration.org_id,
            kind: "device.registered",
            device_id: Some(&device.id),
            at: now,
            data: &json!({
                "device_id": device.identifier.as_str(),
                "platform": device.platform.as_str(),
                "labels": registration.labels.to_json(),
            }),
        },
    )?;
    Ok(Some(device))
}

/// A registration as the API takes it: the device, its key, and the bound on its org's
/// devices. Built by the handler from the request.
pub struct NewRegistration {
    pub org_id: String,
    pub identifier: DeviceIdentifier,
    pub platform: Platform,
    /// A JSON object, as text.
    pub capabilities_json: String,
    /// A JSON object, as text.
    pub metadata_json: String,
    pub labels: Labels,
    pub key: ApiKey,
    /// The most devices an org may have; 0 for no bound.
    pub quota: u64,
}

/// The API's registration: [`register`], within the org's quota of devices. Refuses
/// with [`Refusal::OverQuota`], [`Refusal::NoOrg`] or [`Refusal::Taken`] (the identifier,
/// or a device's id it spells, is taken in the org); the transaction then stores nothing.
pub fn register_within_quota(
    conn: &Conn,
    new: &NewRegistration,
    now: Timestamp,
) -> Result<Device, Refusal> {
    if new.quota > 0 && count_in_org(conn, &new.org_id)? >= new.quota {
        return Err(Refusal::OverQuota {
            org_id: new.org_id.clone(),
            quota: new.quota,
        });
    }
    let registration = Registration {
        org_id: &new.org_id,
        identifier: &new.identifier,
        platform: &new.platform,
        capabilities_json: &new.capabilities_json,
        metadata_json: &new.metadata_json,
        labels: &new.labels,
        key: &new.key,
    };
    match register(conn, &registration, now) {
        Ok(Some(device)) => Ok(device),
        Ok(None) => Err(Refusal::NoOrg(new.org_id.clone())),
        Err(StoreError::Duplicate) => Err(Refusal::Taken {
            org_id: new.org_id.clone(),
            identifier: new.identifier.clone(),
        }),
        Err(err) => Err(err.into()),
    }
}

fn id_exists(conn: &Conn, org_id: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM devices WHERE id = ?1 AND org_id = ?2",
            &[&id, &org_id],
            |_| Ok(()),
        )?
        .is_some())
}

/// Why registering or changing a device refused, beyond [`NotActing`].
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The org has as many devices as its quota allows.
    #[error("org {org_id} has reached its quota of {quota} devices")]
    OverQuota { org_id: String, quota: u64 },
    /// The org to register into does not exist.
    #[error("org {0} does not exist")]
    NoOrg(String),
    /// The identifier is taken in the org, as an identifier or as a device's id.
    #[error("device_id {identifier:?} is taken in org {org_id}")]
    Taken {
        org_id: String,
        identifier: DeviceIdentifier,
    },
    /// The labels a merge would leave are not a valid set: why.
    #[error("{0}")]
    Labels(String),
    /// A device's own credential registering an identifier that is not its device's.
    #[error("a device credential cannot register device_id {identifier:?}")]
    NotOwnDevice { identifier: DeviceIdentifier },
    #[error(transparent)]
    NotActing(#[from] NotActing),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        match self {
            Refusal::Store(e) => super::Failure::is_database_failure(e),
            Refusal::NotActing(refusal) => super::Failure::is_database_failure(refusal),
            _ => false,
        }
    }
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
    /// A JSON object of the device's labels.
    pub labels: Box<RawValue>,
}

/// Which devices of an org a list asks for, and which page.
#[derive(Clone, Copy)]
pub struct ListQuery<'a> {
    pub org_id: &'a str,
    pub platform: Option<&'a Platform>,
    pub status: Option<DeviceStatus>,
    /// Every one must hold.
    pub labels: &'a [LabelFilter],
    pub connectivity: Option<Connectivity>,
    pub last_seen_before: Option<Timestamp>,
    pub last_seen_after: Option<Timestamp>,
    /// Identifier prefix.
    pub prefix: Option<&'a str>,
    /// What connectivity is computed by, and when.
    pub rule: ConnectivityRule,
    pub now: Timestamp,
    pub limit: u32,
    pub offset: u64,
    /// Keyset pagination: only devices registered after the device with this `id`.
    pub after: Option<&'a str>,
}

/// The smallest text greater than every text that starts with `prefix`: the end of the
/// identifier index's range for a prefix. `None` when no such text exists.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A list's SQL: what it selects from, its conditions and their arguments, the column
/// that orders it (`seq` in registration order), and whether `device_counts` (or, for
/// one label filter alone, `label_counts`) can give its total.
struct ListSql {
    from: String,
    conditions: Vec<String>,
    args: Vec<Box<dyn Param>>,
    seq: &'static str,
    counted: bool,
    label_counted: bool,
}

impl ListSql {
    fn bind(&mut self, value: impl Param + 'static) -> String {
        self.args.push(Box::new(value));
        format!("?{}", self.args.len())
    }

    /// Label filters walk the label index in list order (the first filter drives, the
    /// others probe the device's labels by primary key; [`list`] puts the rarest first);
    /// the other filters read the device row by its `seq`. Without label filters the
    /// devices' own indexes serve.
    fn build(query: &ListQuery<'_>, dialect: Dialect) -> ListSql {
        let mut sql = ListSql {
            from: String::new(),
            conditions: Vec::new(),
            args: Vec::new(),
            seq: "d.seq",
            counted: query.labels.is_empty(),
            label_counted: false,
        };
        let org = sql.bind(query.org_id.to_owned());
        let device_filtered = query.platform.is_some()
            || query.status.is_some()
            || query.connectivity.is_some()
            || query.last_seen_before.is_some()
            || query.last_seen_after.is_some()
            || query.prefix.is_some();
        sql.label_counted = query.labels.len() == 1 && !device_filtered;
        match query.labels.split_first() {
            None => {
                sql.from = "devices AS d".to_owned();
                sql.conditions.push(format!("d.org_id = {org}"));
            }
            Some((first, rest)) => {
                sql.seq = "l.device_seq";
                let index = if first.value.is_some() {
                    "device_labels_by_value"
                } else {
                    "device_labels_by_key"
                };
                // PostgreSQL has no INDEXED BY; its planner picks the index itself.
                sql.from = match dialect {
                    Dialect::Sqlite => format!("device_labels AS l INDEXED BY {index}"),
                    Dialect::Postgres => "device_labels AS l".to_owned(),
                };
                if device_filtered {
                    sql.from
                        .push_str(" JOIN devices AS d ON d.seq = l.device_seq");
                }
                sql.conditions.push(format!("l.org_id = {org}"));
                let key = sql.bind(first.key.clone());
                sql.conditions.push(format!("l.key = {key}"));
                if let Some(value) = &first.value {
                    let value = sql.bind(value.clone());
                    sql.conditions.push(format!("l.value = {value}"));
                }
                for (i, filter) in rest.iter().enumerate() {
                    let key = sql.bind(filter.key.clone());
                    let mut probe = format!(
                        "EXISTS (SELECT 1 FROM device_labels AS m{i} \
                         WHERE m{i}.device_id = l.device_id AND m{i}.key = {key}"
                    );
                    if let Some(value) = &filter.value {
                        let value = sql.bind(value.clone());
                        probe.push_str(&format!(" AND m{i}.value = {value}"));
                    }
                    probe.push(')');
                    sql.conditions.push(probe);
                }
            }
        }
        if let Some(platform) = query.platform {
            let p = sql.bind(platform.as_str().to_owned());
            sql.conditions.push(format!("d.platform = {p}"));
        }
        if let Some(status) = query.status {
            let s = sql.bind(status);
            sql.conditions.push(format!("d.status = {s}"));
        }
        if let Some(connectivity) = query.connectivity {
            sql.counted = false;
            let (online_from, stale_from) = query.rule.cutoffs(query.now);
            let condition = match connectivity {
                Connectivity::Online => format!("d.last_heartbeat >= {}", sql.bind(online_from)),
                Connectivity::Stale => format!(
                    "d.last_heartbeat < {} AND d.last_heartbeat >= {}",
                    sql.bind(online_from),
                    sql.bind(stale_from)
                ),
                Connectivity::Offline => format!(
                    "(d.last_heartbeat IS NULL OR d.last_heartbeat < {})",
                    sql.bind(stale_from)
                ),
            };
            sql.conditions.push(condition);
        }
        if let Some(before) = query.last_seen_before {
            sql.counted = false;
            let b = sql.bind(before);
            sql.conditions.push(format!("d.last_heartbeat < {b}"));
        }
        if let Some(after) = query.last_seen_after {
            sql.counted = false;
            let a = sql.bind(after);
            sql.conditions.push(format!("d.last_heartbeat > {a}"));
        }
        if let Some(prefix) = query.prefix {
            sql.counted = false;
            let from = sql.bind(prefix.to_owned());
            sql.conditions.push(format!("d.identifier >= {from}"));
            if let Some(end) = prefix_end(prefix) {
                let end = sql.bind(end);
                sql.conditions.push(format!("d.identifier < {end}"));
            }
        }
        sql
    }

    fn filter(&self) -> String {
        self.conditions.join(" AND ")
    }

    fn params(&self) -> Vec<&dyn Param> {
        self.args.iter().map(|a| a.as_ref()).collect()
    }

    /// The statement that counts every match.
    fn total_sql(&self) -> String {
        format!("SELECT count(*) FROM {} WHERE {}", self.from, self.filter())
    }

    /// The statement that reads one page; the offset is skipped in the inner query, over
    /// an index that holds the filters and `seq`, so skipped devices cost an index entry
    /// each and only the page's rows are read from the table.
    fn page_sql(
        &mut self,
        after_seq: Option<i64>,
        limit: u32,
        offset: u64,
        dialect: Dialect,
    ) -> String {
        let mut filter = self.filter();
        if let Some(seq) = after_seq {
            let after = self.bind(seq);
            filter.push_str(&format!(" AND {} > {after}", self.seq));
        }
        let limit = self.bind(i64::from(limit));
        let offset = self.bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let labels = match dialect {
            Dialect::Sqlite => "json_group_object(key, value)",
            Dialect::Postgres => "coalesce(json_object_agg(key, value)::text, '{}')",
        };
        format!(
            "SELECT id, identifier, org_id, platform, status, last_heartbeat, \
                    (SELECT {labels} FROM device_labels \
                     WHERE device_id = devices.id) \
             FROM devices WHERE seq IN (SELECT {seq} FROM {from} WHERE {filter} \
                                        ORDER BY {seq} LIMIT {limit} OFFSET {offset}) \
             ORDER BY seq",
            seq = self.seq,
            from = self.from,
        )
    }
}

/// The statements a list runs, as `EXPLAIN QUERY PLAN` shows them: the total's, then
/// the page's. For the test that checks they use the indexes.
pub fn list_plans(conn: &Conn, query: &ListQuery<'_>) -> Result<Vec<String>, StoreError> {
    let conn = conn.sqlite("store::devices::list_plans (EXPLAIN QUERY PLAN is SQLite's)")?;
    let mut plans = Vec::new();
    for page in [false, true] {
        let mut sql = ListSql::build(query, Dialect::Sqlite);
        let statement = if page {
            sql.page_sql(Some(1), query.limit, query.offset, Dialect::Sqlite)
        } else {
            sql.total_sql()
        };
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {statement}"))?;
        let params = sql.params();
        let lines = explain
            .query_map(
                rusqlite::params_from_iter(params.iter().map(|p| p.as_sqlite())),
                |r| r.get::<_, String>(3),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        plans.push(lines.join("\n"));
    }
    Ok(plans)
}

/// How many devices of the org carry the label (its value, or for `label=KEY` its key),
/// from the counts the triggers in schema.sql keep.
fn label_count(conn: &Conn, org_id: &str, filter: &LabelFilter) -> Result<i64, StoreError> {
    let n = match &filter.value {
        Some(value) => conn.query_opt(
            "SELECT n FROM label_counts WHERE org_id = ?1 AND key = ?2 AND value = ?3",
            &[&org_id, &filter.key, value],
            |r| r.get(0),
        )?,
        None => conn.query_opt(
            "SELECT n FROM label_key_counts WHERE org_id = ?1 AND key = ?2",
            &[&org_id, &filter.key],
            |r| r.get(0),
        )?,
    };
    Ok(n.unwrap_or(0))
}

/// One page of an org's devices in registration order, and how many match in all. Both
/// come from one read transaction, so the total agrees with the page. `None` when
/// `query.after` names no device of the org.
pub fn list(
    conn: &Conn,
    query: &ListQuery<'_>,
) -> Result<Option<(Vec<DeviceSummary>, u64)>, StoreError> {
    let dialect = conn.dialect();
    conn.snapshot(|| {
        // The rarest label drives the walk, so a filter only few devices match (or none)
        // costs only what it matches, whichever order the labels were given in.
        let mut counted = query
            .labels
            .iter()
            .map(|filter| Ok((label_count(conn, query.org_id, filter)?, filter)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        counted.sort_by_key(|(n, _)| *n);
        let labels: Vec<LabelFilter> = counted.iter().map(|(_, f)| (*f).clone()).collect();
        let query = &ListQuery {
            labels: &labels,
            ..*query
        };
        let mut sql = ListSql::build(query, dialect);
        let total: i64 = if sql.label_counted {
            counted[0].0
        } else if sql.counted {
            // The triggers in schema.sql keep device_counts, whose columns are these
            // filters'. (PostgreSQL's sum of BIGINT is NUMERIC: cast back.)
            let mut filter = String::from("org_id = ?1");
            let mut args: Vec<&dyn Param> = vec![&query.org_id];
            if let Some(platform) = &query.platform {
                args.push(platform);
                filter.push_str(&format!(" AND platform = ?{}", args.len()));
            }
            if let Some(status) = &query.status {
                args.push(status);
                filter.push_str(&format!(" AND status = ?{}", args.len()));
            }
            conn.query_row(
                &format!(
                    "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM device_counts WHERE {filter}"
                ),
                &args,
                |r| r.get(0),
            )?
        } else {
            conn.query_row(&sql.total_sql(), &sql.params(), |r| r.get(0))?
        };
        // The total counts every match; `after` only moves where the page starts.
        let after_seq = match query.after {
            None => None,
            Some(after) => {
                let Some(seq) = conn.query_opt(
                    "SELECT seq FROM devices WHERE id = ?1 AND org_id = ?2",
                    &[&after, &query.org_id],
                    |r| r.get(0),
                )?
                else {
                    return Ok(None);
                };
                Some(seq)
            }
        };
        let page_sql = sql.page_sql(after_seq, query.limit, query.offset, dialect);
        let devices = conn.query_all(&page_sql, &sql.params(), |row| {
            Ok(DeviceSummary {
                id: row.get(0)?,
                identifier: row.get(1)?,
                org_id: row.get(2)?,
                platform: row.get(3)?,
                status: row.get(4)?,
                last_heartbeat: row.get(5)?,
                labels: row.json(6)?,
            })
        })?;
        Ok(Some((devices, u64::try_from(total).unwrap_or(0))))
    })
}

/// What one heartbeat records: the command the heartbeat handler builds from its body.
pub struct Heartbeat {
    pub status: DeviceStatus,
    pub metrics_json: String,
    /// A JSON object merged into the device's metadata (`sdk_version` and the like), or
    /// `None` when the heartbeat carried none.
    pub metadata_patch_json: Option<String>,
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

/// A recorded heartbeat and the training round waiting for its device, if the device is
/// active: `(round id, round number)`.
#[derive(Debug)]
pub struct Beat {
    pub device: HeartbeatRecorded,
    pub pending_round: Option<(String, i64)>,
}

/// The heartbeat operation: the device `acting` names (by [`acting_device_id`], a read
/// only where the request names a device other than by a device credential's UUID),
/// `admit` asked with its id before anything is written (the per-device rate limit), the
/// heartbeat recorded, and the oldest active round it may join named.
pub fn heartbeat<E>(
    conn: &Conn,
    acting: &Acting,
    heartbeat: &Heartbeat,
    now: Timestamp,
    admit: impl FnOnce(&str) -> Result<(), E>,
) -> Result<Beat, E>
where
    E: From<NotActing> + From<StoreError>,
{
    let device_id = acting_device_id(conn, acting)?;
    admit(&device_id)?;
    let org_id = acting.org_id();
    let Some(device) = record_heartbeat(conn, org_id, &device_id, heartbeat, now)? else {
        // Only a device credential's own device can be missing here: the rest was found.
        return Err(match &acting.named {
            Some(named) => NotActing::NotFound(named.clone()),
            None => NotActing::OwnDeviceGone,
        }
        .into());
    };
    // Only a device that says it is taking part is offered a round.
    let pending_round = match heartbeat.status {
        DeviceStatus::Active => {
            super::rounds::pending_for(conn, org_id, &device.id, device.platform.as_str(), now)?
        }
        DeviceStatus::Inactive => None,
    };
    Ok(Beat {
        device,
        pending_round,
    })
}

/// Records a heartbeat on device `device_id` of `org_id`: its status, its metrics
/// snapshot (replacing the previous one), its time, in one statement found by primary
/// key. `None` if there is no such device.
fn record_heartbeat(
    conn: &Conn,
    org_id: &str,
    device_id: &str,
    heartbeat: &Heartbeat,
    now: Timestamp,
) -> Result<Option<HeartbeatRecorded>, StoreError> {
    // `status` is left out of the SET: it is in two indexes, which SQLite rewrites
    // whenever a SET names their columns, and a heartbeat almost never changes it; the
    // rare one that does takes a second statement.
    const SQL: &str = "UPDATE devices SET metrics = ?3, last_heartbeat = ?4, updated_at = ?4, \
         metadata = CASE WHEN ?5 IS NULL THEN metadata ELSE json_patch(metadata, ?5) END \
         WHERE id = ?2 AND org_id = ?1 \
         RETURNING id, identifier, platform, status, last_heartbeat, \
           (SELECT state FROM device_connectivity WHERE device_id = devices.id)";
    let recorded = conn.query_opt(
        SQL,
        &[
            &org_id,
            &device_id,
            &heartbeat.metrics_json,
            &now,
            &heartbeat.metadata_patch_json,
        ],
        |row| {
            let recorded = HeartbeatRecorded {
                id: row.get(0)?,
                identifier: row.get(1)?,
                platform: row.get(2)?,
                status: row.get(3)?,
                last_heartbeat: row.get(4)?,
            };
            Ok((recorded, row.get::<Option<Connectivity>>(5)?))
        },
    )?;
    let Some((mut recorded, announced)) = recorded else {
        return Ok(None);
    };
    if let Some(was) = announced {
        conn.execute(
            "DELETE FROM device_connectivity WHERE device_id = ?1",
            &[&recorded.id],
        )?;
        connectivity_changed(
            conn,
            org_id,
            &recorded.id,
            recorded.identifier.as_str(),
            (was, Connectivity::Online),
            recorded.last_heartbeat,
            now,
        )?;
    }
    if recorded.status != heartbeat.status {
        conn.execute(
            "UPDATE devices SET status = ?2 WHERE id = ?1",
            &[&recorded.id, &heartbeat.status],
        )?;
        status_changed(
            conn,
            org_id,
            &recorded.id,
            recorded.identifier.as_str(),
            (recorded.status, heartbeat.status),
            now,
        )?;
        recorded.status = heartbeat.status;
    }
    Ok(Some(recorded))
}

/// How many devices `org_id` has, from the counts the triggers keep.
pub fn count_in_org(conn: &Conn, org_id: &str) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM device_counts WHERE org_id = ?1",
        &[&org_id],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Appends `device.connectivity_changed`.
pub fn connectivity_changed(
    conn: &Conn,
    org_id: &str,
    id: &str,
    identifier: &str,
    (from, to): (Connectivity, Connectivity),
    last_heartbeat: Option<Timestamp>,
    now: Timestamp,
) -> Result<i64, StoreError> {
    events::append(
        conn,
        &NewEvent {
            org_id,
            kind: "device.connectivity_changed",
            device_id: Some(id),
            at: now,
            data: &json!({
                "device_id": identifier,
                "from": from.as_str(),
                "to": to.as_str(),
                "last_heartbeat": last_heartbeat,
            }),
        },
    )
}

/// Appends `device.status_changed`.
fn status_changed(
    conn: &Conn,
    org_id: &str,
    id: &str,
    identifier: &str,
    (from, to): (DeviceStatus, DeviceStatus),
    now: Timestamp,
) -> Result<i64, StoreError> {
    events::append(
        conn,
        &NewEvent {
            org_id,
            kind: "device.status_changed",
            device_id: Some(id),
            at: now,
            data: &json!({"device_id": identifier, "from": from.as_str(), "to": to.as_str()}),
        },
    )
}

/// A device and what retrieve shows of it beyond its row, read in one transaction.
#[derive(Debug)]
pub struct Detail {
    pub device: Device,
    pub labels: Labels,
    /// `None` before the device's first telemetry event.
    pub telemetry: Option<super::telemetry::Summary>,
    /// `{"models": [...], "updated_at"}`, or null before its first report.
    pub observed_state: serde_json::Value,
}

fn detail_of(conn: &Conn, device: Device) -> Result<Detail, StoreError> {
    Ok(Detail {
        labels: labels_of(conn, &device.id)?,
        telemetry: super::telemetry::summary(conn, &device.id)?,
        observed_state: super::desired::observed_state(conn, &device.id)?,
        device,
    })
}

/// Retrieve: the device `acting` names, in full.
pub fn detail(conn: &Conn, acting: &Acting) -> Result<Detail, NotActing> {
    let device = acting_device(conn, acting)?;
    Ok(detail_of(conn, device)?)
}

/// Deletes the device `acting` names and everything of it: its keys, its round
/// participation (its rounds' counts drop with it), and through `ON DELETE CASCADE` its
/// labels, connectivity and whatever other tables hold of it. Writes `device.deleted`;
/// earlier events stay as history. Returns the device as it was.
pub fn delete(conn: &Conn, acting: &Acting, now: Timestamp) -> Result<Device, NotActing> {
    let device = acting_device(conn, acting)?;
    conn.execute(
        "UPDATE rounds SET participant_count = participant_count - 1 \
         WHERE id IN (SELECT round_id FROM round_participants WHERE device_id = ?1)",
        &[&device.id],
    )?;
    conn.execute(
        "DELETE FROM round_participants WHERE device_id = ?1",
        &[&device.id],
    )?;
    conn.execute("DELETE FROM api_keys WHERE device_id = ?1", &[&device.id])?;
    conn.execute("DELETE FROM devices WHERE id = ?1", &[&device.id])?;
    events::append(
        conn,
        &NewEvent {
            org_id: device.org_id.as_str(),
            kind: "device.deleted",
            device_id: Some(&device.id),
            at: now,
            data: &json!({"device_id": device.identifier.as_str()}),
        },
    )?;
    Ok(device)
}

/// A device's new key, stored.
#[derive(Debug)]
pub struct Rekeyed {
    pub device: Device,
    /// The new key's id.
    pub key_id: String,
}

/// Revokes every key of the device `acting` names and stores `key` as its one device
/// key; writes `device.key_issued`.
pub fn rekey(
    conn: &Conn,
    acting: &Acting,
    key: &ApiKey,
    now: Timestamp,
) -> Result<Rekeyed, NotActing> {
    debug_assert!(key.kind() == KeyKind::Device);
    let device = acting_device(conn, acting)?;
    let revoked = conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
        &[&device.id, &now],
    )?;
    let key_id = format!("key_{}", uuid::Uuid::now_v7().simple());
    keys::insert(
        conn,
        &keys::NewKey {
            id: &key_id,
            org_id: device.org_id.as_str(),
            kind: KeyKind::Device,
            device_id: Some(&device.id),
            prefix: key.display_prefix(),
            digest: &key.digest(),
            now,
        },
    )?;
    events::append(
        conn,
        &NewEvent {
            org_id: device.org_id.as_str(),
            kind: "device.key_issued",
            device_id: Some(&device.id),
            at: now,
            data: &json!({
                "device_id": device.identifier.as_str(),
                "key_id": key_id,
                "key_prefix": key.display_prefix(),
                "revoked_keys": revoked,
            }),
        },
    )?;
    Ok(Rekeyed { device, key_id })
}

/// What a `PATCH` changes, every part optional: the command the change handler builds.
#[derive(Debug)]
pub struct DeviceUpdate {
    /// Labels: all of them (replacing the device's), or with `merge_labels` the members
    /// to set, a null member removing that label.
    pub labels: Option<serde_json::Map<String, serde_json::Value>>,
    pub merge_labels: bool,
    /// A JSON merge patch for the metadata (`null` deletes a member), as text.
    pub metadata_patch_json: Option<String>,
    pub status: Option<DeviceStatus>,
}

/// Changes the device `acting` names as `update` says, and writes `device.updated`
/// (naming what changed) and `device.status_changed` if the status changed. A change to
/// nothing writes nothing. Returns the device as it is afterwards, in full;
/// [`Refusal::Labels`] when merged labels are not a valid set.
pub fn update(
    conn: &Conn,
    acting: &Acting,
    update: &DeviceUpdate,
    now: Timestamp,
) -> Result<Detail, Refusal> {
    let device = acting_device(conn, acting)?;
    let labels = match &update.labels {
        None => None,
        Some(patch) => {
            let mut labels = if update.merge_labels {
                labels_of(conn, &device.id)?
            } else {
                Labels::default()
            };
            labels
                .apply(patch, update.merge_labels)
                .map_err(Refusal::Labels)?;
            Some(labels)
        }
    };
    let mut changed: Vec<&str> = Vec::new();
    let org_id = device.org_id.as_str();
    if let Some(labels) = &labels
        && *labels != labels_of(conn, &device.id)?
    {
        conn.execute(
            "DELETE FROM device_labels WHERE device_id = ?1",
            &[&device.id],
        )?;
        insert_labels(conn, &device.id, org_id, labels)?;
        changed.push("labels");
    }
    if let Some(metadata_patch) = &update.metadata_patch_json {
        // PostgreSQL's json_patch (schema.pg.sql) prints JSON its own way: compare values.
        let sql = match conn.dialect() {
            Dialect::Sqlite => {
                "UPDATE devices SET metadata = json_patch(metadata, ?2) \
                 WHERE id = ?1 AND json_patch(metadata, ?2) IS NOT metadata"
            }
            Dialect::Postgres => {
                "UPDATE devices SET metadata = json_patch(metadata, ?2) \
                 WHERE id = ?1 AND json_patch(metadata, ?2)::jsonb IS DISTINCT FROM metadata::jsonb"
            }
        };
        let updated = conn.execute(sql, &[&device.id, metadata_patch])?;
        if updated > 0 {
            changed.push("metadata");
        }
    }
    let status_change = update.status.filter(|s| *s != device.status);
    if let Some(status) = status_change {
        conn.execute(
            "UPDATE devices SET status = ?2 WHERE id = ?1",
            &[&device.id, &status],
        )?;
        changed.push("status");
    }
    if !changed.is_empty() {
        conn.execute(
            "UPDATE devices SET updated_at = ?2 WHERE id = ?1",
            &[&device.id, &now],
        )?;
        events::append(
            conn,
            &NewEvent {
                org_id,
                kind: "device.updated",
                device_id: Some(&device.id),
                at: now,
                data: &json!({"device_id": device.identifier.as_str(), "changed": changed}),
            },
        )?;
    }
    if let Some(status) = status_change {
        status_changed(
            conn,
            org_id,
            &device.id,
            device.identifier.as_str(),
            (device.status, status),
            now,
        )?;
    }
    let after = find_by_id(conn, org_id, &device.id)?.ok_or(StoreError::NoRow)?;
    Ok(detail_of(conn, after)?)
}

/// A device whose connectivity a sweep found different from what the log last said.
#[derive(Debug)]
pub struct Crossing {
    pub id: String,
    pub org_id: String,
    pub identifier: String,
    pub last_heartbeat: Option<Timestamp>,
    pub announced: Connectivity,
}

/// The devices whose connectivity at `now` is not what the log last announced, having
/// gone quiet: announced online with a heartbeat older than the stale cut-off, and
/// announced stale with one older than the offline cut-off. On a read connection, so
/// the writer goes on meanwhile; [`announce`] checks each again inside the write.
pub fn crossings(
    conn: &Conn,
    rule: ConnectivityRule,
    now: Timestamp,
) -> Result<Vec<Crossing>, StoreError> {
    let (online_from, stale_from) = rule.cutoffs(now);
    let row = |r: &Row<'_>| -> Result<Crossing, StoreError> {
        Ok(Crossing {
            id: r.get(0)?,
            org_id: r.get(1)?,
            identifier: r.get(2)?,
            last_heartbeat: r.get(3)?,
            announced: r.get(4)?,
        })
    };
    let mut found = conn.query_all(
        "SELECT d.id, d.org_id, d.identifier, d.last_heartbeat, 'online' FROM devices AS d \
         WHERE d.last_heartbeat < ?1 \
           AND NOT EXISTS (SELECT 1 FROM device_connectivity AS c WHERE c.device_id = d.id)",
        &[&online_from],
        row,
    )?;
    let stale = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT d.id, d.org_id, d.identifier, d.last_heartbeat, c.state \
             FROM device_connectivity AS c INDEXED BY device_connectivity_by_state \
             JOIN devices AS d ON d.id = c.device_id \
             WHERE c.state = 'stale' AND d.last_heartbeat < ?1"
        }
        Dialect::Postgres => {
            "SELECT d.id, d.org_id, d.identifier, d.last_heartbeat, c.state \
             FROM device_connectivity AS c \
             JOIN devices AS d ON d.id = c.device_id \
             WHERE c.state = 'stale' AND d.last_heartbeat < ?1"
        }
    };
    found.extend(conn.query_all(stale, &[&stale_from], row)?);
    Ok(found)
}

/// Announces `crossing` if it still holds inside this write (a heartbeat since the read
/// may have brought the device back): records its connectivity and appends
/// `device.connectivity_changed`. Whether it announced.
pub fn announce(
    conn: &Conn,
    crossing: &Crossing,
    rule: ConnectivityRule,
    now: Timestamp,
) -> Result<bool, StoreError> {
    // Two PostgreSQL instances sweeping at once: the second waits for the first's commit
    // here, then reads what it announced and announces nothing (SQLite has one writer).
    if conn.dialect() == Dialect::Postgres {
        conn.query_opt(
            "SELECT 1 FROM devices WHERE id = ?1 FOR UPDATE",
            &[&crossing.id],
            |_| Ok(()),
        )?;
    }
    let current: Option<(Option<Timestamp>, Option<Connectivity>)> = conn.query_opt(
        "SELECT last_heartbeat, \
                (SELECT state FROM device_connectivity WHERE device_id = devices.id) \
         FROM devices WHERE id = ?1",
        &[&crossing.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let Some((last_heartbeat, announced)) = current else {
        return Ok(false);
    };
    let announced = announced.unwrap_or(Connectivity::Online);
    let now_is = rule.of(last_heartbeat, now);
    if announced != crossing.announced || now_is == announced || now_is == Connectivity::Online {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO device_connectivity (device_id, org_id, state) VALUES (?1, ?2, ?3) \
         ON CONFLICT (device_id) DO UPDATE SET state = excluded.state",
        &[&crossing.id, &crossing.org_id, &now_is],
    )?;
    connectivity_changed(
        conn,
        &crossing.org_id,
        &crossing.id,
        &crossing.identifier,
        (announced, now_is),
        last_heartbeat,
        now,
    )?;
    Ok(true)
}

/// Every registered device, all orgs: for the metrics gauge. Summed from the counts the
/// triggers keep, so a scrape does not count a million rows.
pub fn count_all(conn: &Conn) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM device_counts",
        &[],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes the devices of `org_id`, their keys, the org's training rounds and its events
/// (not the org's own keys), and returns how many devices there were: an ephemeral server's reset
/// of one org.
pub fn delete_org_devices(conn: &Conn, org_id: &str) -> Result<u64, StoreError> {
    events::delete_org_events(conn, org_id)?;
    conn.execute(
        "DELETE FROM round_participants
         WHERE round_id IN (SELECT id FROM rounds WHERE org_id = ?1)",
        &[&org_id],
    )?;
    conn.execute("DELETE FROM rounds WHERE org_id = ?1", &[&org_id])?;
    super::models::delete_org(conn, org_id)?;
    super::device_settings::delete_org(conn, org_id)?;
    super::runtime::delete_org(conn, org_id)?;
    conn.execute(
        "DELETE FROM api_keys WHERE org_id = ?1 AND kind = 'device'",
        &[&org_id],
    )?;
    let deleted = conn.execute("DELETE FROM devices WHERE org_id = ?1", &[&org_id])?;
    Ok(deleted as u64)
}

/// iOS's control heartbeat, which carries no status or metrics: the `last_heartbeat` of
/// the device `acting` names moves to `now`, and nothing else. Without a read where a
/// device credential names its own device ([`acting_device_id`]); a device gone since is
/// then no row to move.
pub fn touch(conn: &Conn, acting: &Acting, now: Timestamp) -> Result<(), NotActing> {
    let device_id = acting_device_id(conn, acting)?;
    conn.execute(
        "UPDATE devices SET last_heartbeat = ?2, updated_at = ?2 WHERE id = ?1",
        &[&device_id, &now],
    )?;
    Ok(())
}
