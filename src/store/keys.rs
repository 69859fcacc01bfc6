//! Credentials, stored as digests.

use super::{Conn, Row, StoreError};
use crate::domain::{KeyKind, OrgId, Timestamp};

/// A key to store: everything but the key itself.
pub struct NewKey<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub kind: KeyKind,
    /// The device a device key belongs to; `None` for org keys.
    pub device_id: Option<&'a str>,
    pub prefix: &'a str,
    pub digest: &'a [u8; 32],
    pub now: Timestamp,
}

pub fn insert(conn: &Conn, key: &NewKey<'_>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO api_keys (id, org_id, kind, device_id, prefix, digest, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            &key.id,
            &key.org_id,
            &key.kind,
            &key.device_id,
            &key.prefix,
            &&key.digest[..],
            &key.now,
        ],
    )?;
    Ok(())
}

/// A stored key as the authentication layer sees it.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: String,
    pub org_id: OrgId,
    pub kind: KeyKind,
    pub device_id: Option<String>,
    pub revoked: bool,
}

/// Finds the key whose digest is `digest`, revoked or not.
pub fn find_by_digest(conn: &Conn, digest: &[u8; 32]) -> Result<Option<StoredKey>, StoreError> {
    conn.query_opt(
        "SELECT id, org_id, kind, device_id, revoked_at IS NOT NULL FROM api_keys \
         WHERE digest = ?1",
        &[&&digest[..]],
        |row| {
            Ok(StoredKey {
                id: row.get(0)?,
                org_id: row.get(1)?,
                kind: row.get(2)?,
                device_id: row.get(3)?,
                revoked: row.get(4)?,
            })
        },
    )
}

/// A key as the command line lists it.
#[derive(Debug)]
pub struct KeyListing {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub prefix: String,
    pub device_id: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// The keys whose id is `needle`, whose digest is `digest` (when `needle` is a whole key),
/// or whose display prefix starts with `needle`.
pub fn find_for_revoke(
    conn: &Conn,
    needle: &str,
    digest: Option<&[u8; 32]>,
) -> Result<Vec<KeyListing>, StoreError> {
    conn.query_all(
        "SELECT id, org_id, kind, prefix, device_id, created_at, revoked_at FROM api_keys \
         WHERE id = ?1 OR digest = ?2 OR (length(?1) >= 4 AND substr(prefix, 1, length(?1)) = ?1) \
         ORDER BY created_at, id",
        &[&needle, &digest.map(|d| &d[..])],
        listing_from_row,
    )
}

/// Marks key `id` revoked, if it is not already.
pub fn revoke(conn: &Conn, id: &str, now: Timestamp) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        &[&id, &now],
    )?;
    Ok(changed == 1)
}

/// The org keys (secret and publishable) of `org_id`, or of every org.
pub fn list_org_keys(conn: &Conn, org_id: Option<&str>) -> Result<Vec<KeyListing>, StoreError> {
    conn.query_all(
        "SELECT id, org_id, kind, prefix, device_id, created_at, revoked_at FROM api_keys \
         WHERE kind != 'device' AND (?1 IS NULL OR org_id = ?1) ORDER BY org_id, created_at, id",
        &[&org_id],
        listing_from_row,
    )
}

fn listing_from_row(row: &Row<'_>) -> Result<KeyListing, StoreError> {
    Ok(KeyListing {
        id: row.get(0)?,
        org_id: row.get(1)?,
        kind: row.get(2)?,
        prefix: row.get(3)?,
        device_id: row.get(4)?,
        created_at: Timestamp(row.get(5)?),
        revoked_at: row.get::<Option<i64>>(6)?.map(Timestamp),
    })
}
