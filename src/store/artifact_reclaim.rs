//! Reclaiming hosted artifacts' storage (issue 26): which uploads were abandoned and which
//! digests deletions released, for the sweep (`crate::sweep`) to remove from storage.
//!
//! A deletion records the digests it left unnamed in its org (`artifact_released`) in its
//! own transaction; the sweep takes them and removes a file only when no hosted file and
//! no upload of any org names its digest (storage is shared by digest). An upload not
//! confirmed by its `expires_at` is removed with its partial bytes, and with its stored
//! file when it was finished and nothing else names that digest.

use super::artifacts::digest_in_use;
use super::{Conn, StoreError};
use crate::domain::Timestamp;

/// How many rows one sweep write handles.
const BATCH: i64 = 1000;

/// Records that `digests` are no longer named by the org a deletion was in.
pub fn release(conn: &Conn, digests: &[String], now: Timestamp) -> Result<(), StoreError> {
    for sha256 in digests {
        conn.execute(
            "INSERT INTO artifact_released (sha256, released_at) VALUES (?1, ?2) \
             ON CONFLICT (sha256) DO NOTHING",
            &[sha256, &now],
        )?;
    }
    Ok(())
}

/// What the sweep removes from storage after one write.
#[derive(Debug, Default)]
pub struct Reclaim {
    /// Uploads whose partial bytes go.
    pub uploads: Vec<String>,
    /// Stored files (digests) that nothing names.
    pub blobs: Vec<String>,
}

/// Removes up to a batch of the uploads that expired before `now`, and answers what of
/// theirs storage holds: their partial bytes, and a finished one's file when nothing else
/// names its digest.
pub fn expire_uploads(conn: &Conn, now: Timestamp) -> Result<Reclaim, StoreError> {
    let expired: Vec<(String, Option<String>)> = conn.query_all(
        "SELECT id, sha256 FROM artifact_uploads WHERE expires_at < ?1 ORDER BY id LIMIT ?2",
        &[&now, &BATCH],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let mut reclaim = Reclaim::default();
    for (id, _) in &expired {
        conn.execute("DELETE FROM artifact_uploads WHERE id = ?1", &[id])?;
    }
    for (id, sha256) in expired {
        if let Some(sha256) = sha256
            && !digest_in_use(conn, &sha256)?
            && !reclaim.blobs.contains(&sha256)
        {
            reclaim.blobs.push(sha256);
        }
        reclaim.uploads.push(id);
    }
    Ok(reclaim)
}

/// Takes up to a batch of the released digests, answering those nothing names now.
pub fn take_released(conn: &Conn) -> Result<Vec<String>, StoreError> {
    let released: Vec<String> = conn.query_all(
        "SELECT sha256 FROM artifact_released ORDER BY sha256 LIMIT ?1",
        &[&BATCH],
        |row| row.get(0),
    )?;
    let mut unnamed = Vec::new();
    for sha256 in released {
        conn.execute(
            "DELETE FROM artifact_released WHERE sha256 = ?1",
            &[&sha256],
        )?;
        if !digest_in_use(conn, &sha256)? {
            unnamed.push(sha256);
        }
    }
    Ok(unnamed)
}

/// Whether a batch call handled a whole batch (so there may be more).
pub fn full_batch(handled: usize) -> bool {
    handled as i64 >= BATCH
}
