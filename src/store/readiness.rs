//! The readiness probe's row: what `/readyz` writes to learn that the database commits.

use super::{Conn, StoreError};
use crate::domain::Timestamp;

/// The probe: writes the one readiness row with `now`. Committing it is the answer.
pub fn probe(conn: &Conn, now: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO readiness (id, checked_at) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        &[&now],
    )?;
    Ok(())
}
