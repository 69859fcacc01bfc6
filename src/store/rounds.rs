//! Training rounds: starting them, finding and listing them, devices joining them, ending
//! them, and the one lookup a heartbeat makes for the round pending for its device.

use super::StoreError;
use super::{Conn, Dialect, Param, Row};
use crate::domain::{OrgId, Platform, RoundStatus, Timestamp};

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
pub struct NewRound<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub model_id: Option<&'a str>,
    pub platforms_json: &'a str,
    pub min_devices: Option<u32>,
    pub now: Timestamp,
}

/// Starts an active round, numbered one past the org's highest. Safe without retries
/// because every write runs on the one writer connection, in its own transaction.
pub fn insert(conn: &Conn, new: &NewRound<'_>) -> Result<Round, StoreError> {
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

/// Which rounds of an org a list asks for, and which page.
pub struct ListQuery<'a> {
    pub org_id: &'a str,
    pub status: Option<RoundStatus>,
    /// Only rounds a device of this platform may join.
    pub platform: Option<&'a str>,
    pub limit: u32,
    pub offset: u64,
}

/// One page of an org's rounds, oldest (lowest number) first, and how many match in all,
/// from one read transaction.
pub fn list(conn: &Conn, query: &ListQuery<'_>) -> Result<(Vec<Round>, u64), StoreError> {
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
pub fn join(
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
pub fn finish(
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
                Ok(rows)
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
