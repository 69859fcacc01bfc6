//! `devreg migrate --from devreg.db --to postgres://…`: copies a SQLite deployment, live or
//! not, into an empty PostgreSQL database: every table of `schema.sql` row by row (keys
//! and tokens stay digests), from one read snapshot of the file, into one PostgreSQL
//! transaction, then checks that every table has as many rows on both sides.
//!
//! The tables are copied in the order `schema.sql` creates them, which is the order their
//! foreign keys need. The counts kept by triggers (`device_counts`, `label_counts`,
//! `label_key_counts`) are not copied: PostgreSQL's triggers count the rows as they are
//! inserted, and the check at the end compares their sums with SQLite's.
//! Identity sequences (`devices.seq`, ...) are moved past the copied values.

use postgres::types::private::BytesMut;
use postgres::types::{IsNull, ToSql as PgToSql, Type, to_sql_checked};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};

use super::{Conn, Db, Dialect, StoreError};

/// Tables kept by triggers from others: compared at the end, not copied.
const DERIVED: &[&str] = &["device_counts", "label_counts", "label_key_counts"];

/// How a table's size is compared across the two databases: its rows, or for a table of
/// counts the sum of its counts (SQLite keeps zero rows a PostgreSQL copy never has).
fn size_sql(table: &str) -> String {
    if DERIVED.contains(&table) {
        format!("SELECT CAST(coalesce(sum(n), 0) AS BIGINT) FROM {table}")
    } else {
        format!("SELECT count(*) FROM {table}")
    }
}

/// What a migration copied: (table, rows), in copy order.
pub type Copied = Vec<(String, u64)>;

/// Copies the SQLite database at `from` into the empty PostgreSQL database `to`,
/// calling `progress` with a line per table. Must run outside an async runtime (the
/// command line): the PostgreSQL client runs one of its own.
pub fn migrate(from: &str, to: &str, progress: &mut dyn FnMut(&str)) -> Result<Copied, StoreError> {
    if !super::pg::is_url(to) {
        return Err(StoreError::Unusable(format!(
            "--to must be a postgres:// URL, got {}",
            crate::domain::quoted(to)
        )));
    }
    if super::pg::is_url(from) {
        return Err(StoreError::Unusable(
            "--from must be a SQLite database file".to_owned(),
        ));
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(StoreError::Blocking(
            "store::migrate::migrate runs outside an async runtime".to_owned(),
        ));
    }
    super::require_file(from)?;
    let sqlite = rusqlite::Connection::open_with_flags(
        from,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Unusable(format!("cannot open database {from} ({e})")))?;
    super::check_version(&sqlite, from)?;
    sqlite.execute_batch("PRAGMA busy_timeout = 5000;")?;
    let version: i64 = sqlite.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != super::SCHEMA_VERSION {
        return Err(StoreError::Unusable(format!(
            "{from} has schema version {version}; start this devreg on it once (devreg \
             serve) to bring it to version {}, then migrate",
            super::SCHEMA_VERSION
        )));
    }

    let target = Db::open(to, 1)?;
    let shown = super::pg::without_password(to);
    let super::Engine::Postgres(postgres) = &target.inner.engine else {
        unreachable!("a postgres:// URL opens PostgreSQL")
    };
    let occupied: i64 = postgres.transaction(true, |conn| {
        conn.query_row(
            "SELECT (SELECT count(*) FROM orgs) + (SELECT count(*) FROM devices) \
             + (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM events)",
            &[],
            |r| r.get(0),
        )
    })?;
    if occupied > 0 {
        return Err(StoreError::Unusable(format!(
            "{shown} is not empty (it holds orgs, devices, keys or events); devreg migrate \
             copies into an empty database only"
        )));
    }
    progress(&format!("Copying {from} into {shown}."));
    // One read transaction: a snapshot of a file a server may go on writing.
    let snapshot = sqlite.unchecked_transaction()?;
    let tables: Vec<String> = snapshot
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut expected: Vec<(String, i64)> = Vec::new();
    for table in &tables {
        expected.push((
            table.clone(),
            snapshot.query_row(&size_sql(table), [], |r| r.get(0))?,
        ));
    }
    let copied = postgres.transaction(false, |pg| {
        let mut copied = Vec::new();
        for table in &tables {
            if DERIVED.contains(&table.as_str()) {
                continue;
            }
            let n = copy_table(&snapshot, pg, table)?;
            progress(&format!("  {table}: {n} rows"));
            copied.push((table.clone(), n));
        }
        reset_identities(pg)?;
        Ok::<_, StoreError>(copied)
    })?;
    snapshot.finish()?;

    progress("Checking row counts on both sides.");
    let counted: Vec<i64> = postgres.transaction(true, |pg| {
        expected
            .iter()
            .map(|(table, _)| pg.query_row(&size_sql(table), &[], |r| r.get(0)))
            .collect()
    })?;
    for ((table, there), here) in expected.iter().zip(counted) {
        if *there != here {
            return Err(StoreError::Unusable(format!(
                "after the copy {table} has {here} rows in {shown} but {there} in {from}; \
                 the target is left as it is for inspection"
            )));
        }
    }
    progress(&format!(
        "Done: {} tables, {} rows, every count verified.",
        copied.len(),
        copied.iter().map(|(_, n)| n).sum::<u64>()
    ));
    Ok(copied)
}

/// Copies every row of `table`; how many.
fn copy_table(sqlite: &rusqlite::Connection, pg: &Conn, table: &str) -> Result<u64, StoreError> {
    debug_assert_eq!(pg.dialect(), Dialect::Postgres);
    let types: Vec<(String, Type)> = pg.query_all(
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position",
        &[&table],
        |r| {
            let name: String = r.get(0)?;
            let ty = match r.get::<String>(1)?.as_str() {
                "bigint" | "integer" => Type::INT8,
                "bytea" => Type::BYTEA,
                "double precision" | "real" => Type::FLOAT8,
                "boolean" => Type::BOOL,
                _ => Type::TEXT,
            };
            Ok((name, ty))
        },
    )?;
    if types.is_empty() {
        return Err(StoreError::Unusable(format!(
            "table {table} of the SQLite database has no counterpart in schema.pg.sql"
        )));
    }
    let columns: Vec<&str> = types.iter().map(|(n, _)| n.as_str()).collect();
    let list = columns.join(", ");
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let insert = format!(
        "INSERT INTO {table} ({list}) VALUES ({})",
        placeholders.join(", ")
    );
    let mut statement = sqlite.prepare(&format!("SELECT {list} FROM {table}"))?;
    let mut rows = statement.query([])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(columns.len());
        for (i, (_, ty)) in types.iter().enumerate() {
            cells.push(Cell {
                value: row.get::<_, Value>(i)?,
                ty: ty.clone(),
            });
        }
        let params: Vec<&dyn super::Param> = cells.iter().map(|c| c as &dyn super::Param).collect();
        pg.execute(&insert, &params)?;
        n += 1;
    }
    Ok(n)
}

/// Moves each identity sequence past the largest copied value.
fn reset_identities(pg: &Conn) -> Result<(), StoreError> {
    let identities: Vec<(String, String)> = pg.query_all(
        "SELECT table_name, column_name FROM information_schema.columns \
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
        &[],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (table, column) in identities {
        pg.query_row(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
            ),
            &[],
            |_| Ok(()),
        )?;
    }
    Ok(())
}

/// A SQLite value bound as the PostgreSQL column's type (a NULL too, so one statement
/// fits every row). A SQLite boolean is an integer; PostgreSQL's is a BOOLEAN.
#[derive(Debug)]
struct Cell {
    value: Value,
    ty: Type,
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::from(&self.value)))
    }
}

impl PgToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (&self.value, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Integer(n), &Type::BOOL) => (*n != 0).to_sql(ty, out),
            (Value::Integer(n), &Type::FLOAT8) => (*n as f64).to_sql(ty, out),
            (Value::Integer(n), _) => n.to_sql(ty, out),
            (Value::Real(x), _) => x.to_sql(ty, out),
            (Value::Text(t), _) => t.as_str().to_sql(ty, out),
            (Value::Blob(b), _) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::INT8,
            Type::TEXT,
            Type::BYTEA,
            Type::FLOAT8,
            Type::BOOL,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

impl super::Param for Cell {
    fn pg_type(&self) -> Type {
        self.ty.clone()
    }

    fn as_sqlite(&self) -> &dyn rusqlite::ToSql {
        self
    }

    fn as_postgres(&self) -> &(dyn PgToSql + Sync) {
        self
    }
}
