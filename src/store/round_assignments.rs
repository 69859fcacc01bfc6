//! Training rounds as iOS and Android read them (`listRounds`/`getRound` decode a bare
//! array of `RoundAssignment`): the same rounds, each with how many updates it received.
//! No HTTP here.

use super::rounds::{self, ListRounds, Refusal, Round};
use super::{Conn, StoreError};
use crate::domain::{Acting, Credential};

/// A round and how many device updates it received.
#[derive(Debug)]
pub struct Counted {
    pub round: Round,
    pub updates: i64,
}

fn updates(conn: &Conn, round_id: &str) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT count(*) FROM round_updates WHERE round_id = ?1",
        &[&round_id],
        |r| r.get(0),
    )
}

/// [`rounds::list`], each round with its update count.
pub fn list(conn: &Conn, acting: &Acting, query: &ListRounds) -> Result<Vec<Counted>, Refusal> {
    let (found, _) = rounds::list(conn, acting, query)?;
    found
        .into_iter()
        .map(|round| {
            let updates = updates(conn, &round.id)?;
            Ok(Counted { round, updates })
        })
        .collect()
}

/// [`rounds::get`], with its update count.
pub fn get(conn: &Conn, credential: &Credential, reference: &str) -> Result<Counted, Refusal> {
    let round = rounds::get(conn, credential, reference)?;
    let updates = updates(conn, &round.id)?;
    Ok(Counted { round, updates })
}
