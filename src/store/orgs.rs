//! Organizations, and the org keys made with them.

use super::{Conn, StoreError, keys};
use crate::domain::{ApiKey, KeyKind, OrgId, Timestamp};

/// Creates org `id`. [`StoreError::Duplicate`] when it exists.
pub fn insert(conn: &Conn, id: &OrgId, now: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO orgs (id, created_at) VALUES (?1, ?2)",
        &[id, &now],
    )?;
    Ok(())
}

pub fn exists(conn: &Conn, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_opt("SELECT 1 FROM orgs WHERE id = ?1", &[&id], |_| Ok(()))?
        .is_some())
}

pub fn count(conn: &Conn) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM orgs", &[], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Stores an org key (secret or publishable) for `org_id` and returns its id.
/// [`StoreError::Duplicate`] when the same key is already stored.
pub fn add_key(
    conn: &Conn,
    org_id: &OrgId,
    key: &ApiKey,
    now: Timestamp,
) -> Result<String, StoreError> {
    debug_assert!(
        key.kind() != KeyKind::Device,
        "device keys belong to devices"
    );
    let id = format!("key_{}", uuid::Uuid::now_v7().simple());
    keys::insert(
        conn,
        &keys::NewKey {
            id: &id,
            org_id: org_id.as_str(),
            kind: key.kind(),
            device_id: None,
            prefix: key.display_prefix(),
            digest: &key.digest(),
            now,
        },
    )?;
    Ok(id)
}

/// Deletes every org, key, device, training round and event (each org's seq keeps
/// counting): an ephemeral server's full reset.
pub fn delete_everything(conn: &Conn) -> Result<(), StoreError> {
    conn.batch(
        "DELETE FROM round_participants; DELETE FROM rounds;
         DELETE FROM api_keys; DELETE FROM devices;
         DELETE FROM deployments; DELETE FROM model_versions; DELETE FROM models;
         DELETE FROM orgs;
         DELETE FROM events; DELETE FROM event_retention;
         DELETE FROM org_device_settings; DELETE FROM runtime_benchmarks;",
    )?;
    Ok(())
}
