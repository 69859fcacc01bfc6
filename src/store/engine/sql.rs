//! The seam between the store and its two databases: [`Conn`] runs one statement on
//! SQLite (rusqlite) or PostgreSQL (the `postgres` crate), with typed parameters
//! ([`Param`]) and typed columns ([`Column`]), so a store function is written once.
//!
//! SQL is written in SQLite's numbered style (`?1`, `?2`); on PostgreSQL it is rewritten
//! to `$1`, `$2` once per connection and statement, and prepared with the parameter types
//! the Rust values carry (PostgreSQL cannot infer the type of `?3` in `?3 IS NULL`):
//! [`PgConn`] keeps what each connection prepared. pg.rs pools those connections and
//! runs the transactions; it uses this file, never the other way round.
//! Where the dialects differ a function asks [`Conn::dialect`] and writes each variant
//! next to the other. On SQLite a call is one `match` and then exactly what the code did
//! before the seam: `prepare_cached`, bind through rusqlite's `&dyn ToSql`, step. No
//! allocation and no dynamic dispatch is added per row.
//!
//! A store function not yet ported to PostgreSQL says so with [`Conn::sqlite`], which
//! refuses with [`StoreError::NotPorted`] there: it fails clearly, never silently.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::types::Type;

use super::StoreError;

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One connection (or transaction) of either database, as store functions take it.
pub struct Conn<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Sqlite(&'a rusqlite::Connection),
    /// `RefCell`: the `postgres` client needs `&mut` for every statement, store functions
    /// share `&Conn` (as they shared `&rusqlite::Connection`), and a connection belongs to
    /// one thread at a time.
    Postgres(RefCell<&'a mut PgConn>),
}

impl<'a> From<&'a rusqlite::Connection> for Conn<'a> {
    fn from(conn: &'a rusqlite::Connection) -> Self {
        Conn {
            inner: Inner::Sqlite(conn),
        }
    }
}

impl<'a> Conn<'a> {
    pub(super) fn postgres(conn: &'a mut PgConn) -> Self {
        Conn {
            inner: Inner::Postgres(RefCell::new(conn)),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection, for store code not yet ported to PostgreSQL: on PostgreSQL
    /// [`StoreError::NotPorted`] naming `what`.
    pub fn sqlite(&self, what: &'static str) -> Result<&'a rusqlite::Connection, StoreError> {
        match self.inner {
            Inner::Sqlite(conn) => Ok(conn),
            Inner::Postgres(_) => Err(StoreError::NotPorted(what)),
        }
    }

    /// Runs `f` (which reads through this connection) on one snapshot: in a read
    /// transaction on SQLite, unless the connection is in one already (a write's, which
    /// is a snapshot too); on PostgreSQL every read already is one (pg.rs).
    pub fn snapshot<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        match &self.inner {
            Inner::Sqlite(conn) if !conn.is_autocommit() => f(),
            Inner::Sqlite(conn) => {
                let tx = conn.unchecked_transaction()?;
                let value = f()?;
                tx.finish()?;
                Ok(value)
            }
            Inner::Postgres(_) => f(),
        }
    }

    /// Runs a statement that returns no rows; how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<usize, StoreError> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.prepare_cached(sql)?.execute(sqlite_params(params))?),
            Inner::Postgres(conn) => {
                let mut conn = conn.borrow_mut();
                let changed = conn.execute(sql, params)?;
                Ok(usize::try_from(changed).unwrap_or(usize::MAX))
            }
        }
    }

    /// Runs several statements with no parameters (schema, resets).
    pub fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(conn) => conn.borrow_mut().batch(sql),
        }
    }

    /// The first row of a query read by `f`, or `None` when there is none.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(sqlite_params(params))?;
                match rows.next()? {
                    Some(row) => Ok(Some(f(&Row::Sqlite(row))?)),
                    None => Ok(None),
                }
            }
            Inner::Postgres(conn) => {
                let rows = conn.borrow_mut().query(sql, params)?;
                rows.first().map(|row| f(&Row::Postgres(row))).transpose()
            }
        }
    }

    /// The first row of a query read by `f`; a query that returns none is an error (the
    /// caller knows there is one: `count(*)`, `RETURNING`).
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, params, f)?.ok_or(StoreError::NoRow)
    }

    /// Every row of a query, each read by `f`.
    pub fn query_all<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        match &self.inner {
            Inner::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(sqlite_params(params))?;
                let mut all = Vec::new();
                while let Some(row) = rows.next()? {
                    all.push(f(&Row::Sqlite(row))?);
                }
                Ok(all)
            }
            Inner::Postgres(conn) => {
                let rows = conn.borrow_mut().query(sql, params)?;
                rows.iter().map(|row| f(&Row::Postgres(row))).collect()
            }
        }
    }
}

fn sqlite_params<'p>(
    params: &'p [&'p dyn Param],
) -> rusqlite::ParamsFromIter<impl Iterator<Item = &'p dyn rusqlite::ToSql>> {
    rusqlite::params_from_iter(params.iter().map(|p| p.as_sqlite()))
}

/// A row of either database.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl Row<'_> {
    /// Column `index` (from 0) as `T`.
    pub fn get<T: Column>(&self, index: usize) -> Result<T, StoreError> {
        match self {
            Row::Sqlite(row) => Ok(row.get(index)?),
            Row::Postgres(row) => row.try_get(index).map_err(StoreError::from),
        }
    }

    /// A `TEXT` column holding JSON, as a raw JSON value.
    pub fn json(&self, index: usize) -> Result<Box<serde_json::value::RawValue>, StoreError> {
        super::raw_json_text(self.get(index)?)
    }

    /// A nullable `TEXT` column holding JSON.
    pub fn json_opt(
        &self,
        index: usize,
    ) -> Result<Option<Box<serde_json::value::RawValue>>, StoreError> {
        self.get::<Option<String>>(index)?
            .map(super::raw_json_text)
            .transpose()
    }
}

/// A value a column can be read as, on both databases. Listed, not blanket: PostgreSQL
/// is strict about widths (its `u32` is an OID, and BIGINT reads only as `i64`), so a
/// narrower integer is read as `i64` and converted where it is used.
pub trait Column: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> {}

macro_rules! column {
    ($($ty:ty),* $(,)?) => {$(impl Column for $ty {})*};
}

column! {
    i64,
    f64,
    bool,
    String,
    Vec<u8>,
    crate::domain::Timestamp,
    crate::domain::OrgId,
    crate::domain::Platform,
    crate::domain::DeviceStatus,
    crate::domain::RoundStatus,
    crate::domain::Connectivity,
    crate::domain::KeyKind,
    crate::domain::DeviceIdentifier,
}

impl<T: Column> Column for Option<T> {}

/// A value a statement can bind, on both databases, with the PostgreSQL type it binds
/// as (statements are prepared with these types).
pub trait Param: rusqlite::ToSql + postgres::types::ToSql + Sync {
    fn pg_type(&self) -> Type;
    fn as_sqlite(&self) -> &dyn rusqlite::ToSql;
    fn as_postgres(&self) -> &(dyn postgres::types::ToSql + Sync);
}

/// The PostgreSQL type a Rust type binds as.
pub trait Typed {
    const PG: Type;
}

impl<T: Typed + rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {
    fn pg_type(&self) -> Type {
        T::PG
    }

    fn as_sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }

    fn as_postgres(&self) -> &(dyn postgres::types::ToSql + Sync) {
        self
    }
}

/// [`Typed`] for types whose PostgreSQL type is fixed.
macro_rules! typed {
    ($($ty:ty => $pg:expr),* $(,)?) => {$(
        impl Typed for $ty {
            const PG: Type = $pg;
        }
    )*};
}

typed! {
    i64 => Type::INT8,
    f64 => Type::FLOAT8,
    bool => Type::BOOL,
    &str => Type::TEXT,
    String => Type::TEXT,
    std::borrow::Cow<'_, str> => Type::TEXT,
    &[u8] => Type::BYTEA,
    Vec<u8> => Type::BYTEA,
    crate::domain::Timestamp => Type::INT8,
    crate::domain::OrgId => Type::TEXT,
    crate::domain::Platform => Type::TEXT,
    crate::domain::DeviceStatus => Type::TEXT,
    crate::domain::RoundStatus => Type::TEXT,
    crate::domain::Connectivity => Type::TEXT,
    crate::domain::KeyKind => Type::TEXT,
    crate::domain::DeviceIdentifier => Type::TEXT,
}

impl<T: Typed + ?Sized> Typed for &T {
    const PG: Type = T::PG;
}

impl<T: Typed> Typed for Option<T> {
    const PG: Type = T::PG;
}

/// A PostgreSQL connection with the statements it prepared, keyed by the SQL as the store
/// writes it and the parameter types: what [`Conn`] runs on there, and what pg.rs pools.
pub struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl PgConn {
    /// A connection that has prepared nothing yet.
    pub(super) fn new(client: postgres::Client) -> PgConn {
        PgConn {
            client,
            statements: HashMap::new(),
        }
    }

    /// The client itself, for the pool's health checks.
    pub(super) fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }

    fn statement(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<postgres::Statement, StoreError> {
        let types: Vec<Type> = params.iter().map(|p| p.pg_type()).collect();
        let mut key = String::with_capacity(sql.len() + 6 * types.len());
        key.push_str(sql);
        for ty in &types {
            key.push('\0');
            key.push_str(&ty.oid().to_string());
        }
        if let Some(statement) = self.statements.get(&key) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare_typed(&to_postgres(sql), &types)?;
        self.statements.insert(key, statement.clone());
        Ok(statement)
    }

    pub(super) fn execute(&mut self, sql: &str, params: &[&dyn Param]) -> Result<u64, StoreError> {
        let statement = self.statement(sql, params)?;
        let values: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p.as_postgres()).collect();
        Ok(self.client.execute(&statement, &values)?)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: &[&dyn Param],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        let statement = self.statement(sql, params)?;
        let values: Vec<&(dyn postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p.as_postgres()).collect();
        Ok(self.client.query(&statement, &values)?)
    }

    pub(super) fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client.batch_execute(sql)?)
    }
}

/// Rewrites SQLite's `?N` (and bare `?`) placeholders to PostgreSQL's `$N`, leaving
/// quoted text and identifiers alone.
fn to_postgres(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut next_bare = 1;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(d) = chars.next_if(char::is_ascii_digit) {
                        out.push(d);
                    }
                } else {
                    out.push_str(&next_bare.to_string());
                    next_bare += 1;
                }
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_dollars_outside_quotes() {
        assert_eq!(
            to_postgres("SELECT '?1', \"a?\" FROM t WHERE a = ?1 AND b = ?12 OR ?"),
            "SELECT '?1', \"a?\" FROM t WHERE a = $1 AND b = $12 OR $1"
        );
    }
}
