//! The PostgreSQL backend: a pool of synchronous `postgres` connections, used from the
//! same blocking threads the SQLite store runs on, so every store function keeps its
//! shape (a plain function over [`super::Conn`]).
//!
//! Why the synchronous `postgres` crate (which wraps `tokio-postgres`): the store is
//! synchronous by design (docs/development.md, the three seams), its closures run on `web::block` threads, and the
//! existing pool is r2d2; an async driver (tokio-postgres with deadpool, or sqlx) would
//! need every store function made async or a runtime entered per call, for no gain on
//! these threads. Each `postgres::Client` drives its connection on a small runtime of its
//! own, so it must never be used (or dropped) on an async thread: [`off_runtime`] and
//! [`Postgres`]'s `Drop` see to that.
//!
//! Writes: [`super::Db::write`] queues its closure for the group-commit writer
//! (pg_writer.rs), which commits the writes that queued together in one transaction, each
//! in its own savepoint; [`super::Db::write_sync`] (the command line, start-up) is its own
//! transaction on a pooled connection. Concurrent writes of several devreg instances on
//! one database are ordered by PostgreSQL's row locks and unique constraints. Reads run in
//! a `REPEATABLE READ READ ONLY` transaction, so a read closure sees one snapshot as it did
//! on SQLite.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use postgres::NoTls;

use super::pg_writer::PgWriter;
use super::sql::PgConn;
use super::{Conn, StoreError};

/// Whether `db` (the `--db` value) names a PostgreSQL database.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

const SCHEMA: &str = include_str!("../../../schema.pg.sql");

/// What a PostgreSQL database of an older version needs beyond `schema.pg.sql`, as
/// [`super::MIGRATIONS`] is for SQLite: (version, SQL). PostgreSQL support starts at
/// schema version 2. A schema change adds an entry here and one there, with the same
/// version.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[(
    3,
    "DELETE FROM label_counts;
     INSERT INTO label_counts (org_id, key, value, n)
         SELECT org_id, key, value, count(*) FROM device_labels GROUP BY org_id, key, value;
     DELETE FROM label_key_counts;
     INSERT INTO label_key_counts (org_id, key, n)
         SELECT org_id, key, count(*) FROM device_labels GROUP BY org_id, key;",
)];

struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<PgConn, ConnectError> {
        Ok(PgConn::new(
            self.config.connect(NoTls).map_err(ConnectError)?,
        ))
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), ConnectError> {
        conn.client()
            .simple_query("")
            .map(|_| ())
            .map_err(ConnectError)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client().is_closed()
    }
}

/// A failed connection, displayed with its reason: [`describe`]. The pool keeps the
/// last one's text for its own error, so a pool that cannot connect says why too.
#[derive(Debug)]
pub(super) struct ConnectError(postgres::Error);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.0))
    }
}

impl std::error::Error for ConnectError {}

/// What went wrong, for an operator: `postgres::Error`'s own text is only its kind ("db
/// error" for a missing database and an unknown role alike, "error connecting to server"
/// whatever refused it), so this gives the server's message and SQLSTATE, or the cause.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str(&format!("; {detail}"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; {hint}"));
        }
        return text;
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// The PostgreSQL side of a [`super::Db`].
pub(super) struct Postgres {
    /// `None` only while dropping.
    pool: Option<r2d2::Pool<Manager>>,
    /// The URL without its password, for messages.
    shown: String,
    /// Write transactions committed (a batch of the writer is one), for
    /// [`super::Db::commit_count`].
    commits: Arc<AtomicU64>,
    /// The group-commit writer; `None` only while dropping.
    writer: Option<PgWriter>,
}

impl Drop for Postgres {
    /// Each connection owns a runtime, which may not be dropped on an async thread: the
    /// last handle on a database is often dropped there (a test server stopping).
    fn drop(&mut self) {
        // First, so the writes it queued are answered while the pool is there.
        drop(self.writer.take());
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::Builder::new()
                .name("devreg-pg-close".to_owned())
                .spawn(move || drop(pool));
        }
    }
}

impl Postgres {
    /// Connects to `url`, brings its schema up to date, opens a pool of `size`
    /// connections, and starts the thread that listens for events appended by any
    /// instance on this database and bumps `appended` (what event streams wait on).
    pub(super) fn open(
        url: &str,
        size: u32,
        appended: &Arc<tokio::sync::watch::Sender<u64>>,
    ) -> Result<Postgres, StoreError> {
        let shown = without_password(url);
        let config: postgres::Config = url.parse().map_err(|e| {
            StoreError::Unusable(format!(
                "cannot use database {shown}: not a valid URL ({})",
                describe(&e)
            ))
        })?;
        let listen_config = config.clone();
        let opened = off_runtime(|| {
            let manager = Manager { config };
            let mut first = r2d2::ManageConnection::connect(&manager).map_err(|e| {
                StoreError::Unusable(format!("cannot connect to database {shown} ({e})"))
            })?;
            apply_schema(&mut first, &shown)?;
            drop(first);
            let pool = r2d2::Pool::builder()
                .max_size(size.max(1) + 2)
                .min_idle(Some(1))
                .test_on_check_out(false)
                .connection_timeout(Duration::from_secs(2))
                .build(manager)
                .map_err(|e| {
                    StoreError::Unusable(format!("cannot connect to database {shown} ({e})"))
                })?;
            let commits = Arc::new(AtomicU64::new(0));
            let writer = PgWriter::start(
                pool.clone(),
                shown.clone(),
                NOTIFY,
                commits.clone(),
                appended.clone(),
            )?;
            Ok::<_, StoreError>(Postgres {
                pool: Some(pool),
                shown: shown.clone(),
                commits,
                writer: Some(writer),
            })
        })?;
        let appended = Arc::downgrade(appended);
        std::thread::Builder::new()
            .name("devreg-pg-listen".to_owned())
            .spawn(move || listen(&listen_config, &appended))
            .map_err(|e| StoreError::Blocking(format!("cannot start the listener: {e}")))?;
        Ok(opened)
    }

    /// How many write transactions have committed.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    fn pool(&self) -> &r2d2::Pool<Manager> {
        self.pool.as_ref().expect("the pool lives until drop")
    }

    /// Queues `work` for the group-commit writer and waits for the commit that holds it.
    pub(super) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Conn) -> Result<T, E> + Send + 'static,
    {
        self.writer
            .as_ref()
            .expect("the writer lives until drop")
            .write(work)
            .await
    }

    /// Runs `f` in a transaction and commits it; on the calling thread, which must not be
    /// an async one (see [`off_runtime`]).
    pub(super) fn transaction<T, E: From<StoreError>>(
        &self,
        read_only: bool,
        f: impl FnOnce(&Conn) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.pool().get().map_err(|e| {
            StoreError::Unavailable(format!("no connection to {} ({e})", self.shown))
        })?;
        let begin = if read_only {
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        } else {
            "BEGIN"
        };
        conn.batch(begin)?;
        // Whatever a previous transaction on this thread left, this one starts clean.
        let _ = super::take_appended();
        let outcome = super::catch_panic("a database task", || f(&Conn::postgres(&mut conn)));
        match outcome {
            Ok(value) => {
                if !read_only && super::appended_pending() {
                    // Delivered at commit to every listening instance, this one too.
                    conn.batch(NOTIFY)?;
                }
                conn.batch("COMMIT")?;
                if !read_only {
                    self.commits.fetch_add(1, Ordering::Relaxed);
                }
                Ok(value)
            }
            Err(err) => {
                // A failed statement has aborted the transaction already; a broken
                // connection fails this too, and the pool drops it.
                let _ = conn.batch("ROLLBACK");
                Err(err)
            }
        }
    }
}

/// The channel commits that appended events notify.
const CHANNEL: &str = "devreg_events";

/// What a commit that appended events sends first: [`CHANNEL`]'s notification.
const NOTIFY: &str = "NOTIFY devreg_events";

/// The listener thread: LISTENs on its own connection and bumps `appended` at every
/// notification, reconnecting after a lost connection (and bumping once then, for what it
/// may have missed: a stream woken for nothing reads nothing new and waits again). Ends
/// when the database is dropped.
fn listen(config: &postgres::Config, appended: &Weak<tokio::sync::watch::Sender<u64>>) {
    let bump = || match appended.upgrade() {
        Some(sender) => {
            sender.send_modify(|n| *n += 1);
            true
        }
        None => false,
    };
    let mut connected_before = false;
    loop {
        if appended.strong_count() == 0 {
            return;
        }
        let mut client = match config.connect(NoTls) {
            Ok(client) => client,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        if connected_before && !bump() {
            return;
        }
        connected_before = true;
        loop {
            let next = {
                let mut notifications = client.notifications();
                let mut iter = notifications.timeout_iter(Duration::from_millis(500));
                postgres::fallible_iterator::FallibleIterator::next(&mut iter)
            };
            match next {
                Ok(Some(_)) => {
                    if !bump() {
                        return;
                    }
                }
                Ok(None) => {
                    if appended.strong_count() == 0 {
                        return;
                    }
                    if client.is_closed() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
}

/// Runs `f` on a thread outside any async runtime: on this one when it is outside, else on
/// a scoped thread (start-up and the command line call the synchronous `Db` methods from
/// inside the runtime).
pub(super) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Brings the schema to [`super::SCHEMA_VERSION`]: `schema.pg.sql` (idempotent) and the
/// migrations the database's version lacks, in one transaction, under an advisory lock
/// so instances starting together apply it once.
fn apply_schema(conn: &mut PgConn, shown: &str) -> Result<(), StoreError> {
    let failed = |e: StoreError| {
        let why = match &e {
            StoreError::Postgres(e) => describe(e),
            other => other.to_string(),
        };
        StoreError::Unusable(format!(
            "cannot use database {shown}: applying the schema failed ({why})"
        ))
    };
    let run = |conn: &mut PgConn| -> Result<(), StoreError> {
        conn.batch(
            "BEGIN; SET LOCAL client_min_messages = warning; \
             SELECT pg_advisory_xact_lock(7319001);",
        )?;
        conn.batch(
            "CREATE TABLE IF NOT EXISTS devreg_schema (
                 id BIGINT PRIMARY KEY CHECK (id = 1),
                 version BIGINT NOT NULL
             )",
        )?;
        let before: i64 = conn
            .query("SELECT version FROM devreg_schema", &[])?
            .first()
            .map(|r| r.get(0))
            .unwrap_or(0);
        if before > super::SCHEMA_VERSION {
            conn.batch("ROLLBACK")?;
            return Err(StoreError::Unusable(format!(
                "its schema version {before} is newer than this devreg's ({}); upgrade devreg",
                super::SCHEMA_VERSION
            )));
        }
        conn.batch(SCHEMA)?;
        if before > 0 {
            for (version, sql) in MIGRATIONS {
                if before < *version {
                    conn.batch(sql)?;
                }
            }
        }
        conn.batch(&format!(
            "INSERT INTO devreg_schema (id, version) VALUES (1, {v}) \
             ON CONFLICT (id) DO UPDATE SET version = {v}; COMMIT;",
            v = super::SCHEMA_VERSION
        ))?;
        Ok(())
    };
    run(conn).map_err(|e| {
        let _ = conn.batch("ROLLBACK");
        match e {
            StoreError::Unusable(m) => {
                StoreError::Unusable(format!("cannot use database {shown}: {m}"))
            }
            other => failed(other),
        }
    })
}

/// The schema version recorded in the database.
pub(super) fn schema_version(conn: &Conn) -> Result<i64, StoreError> {
    conn.query_row("SELECT version FROM devreg_schema", &[], |r| r.get(0))
}

/// `url` with any password replaced, for messages and logs: the one in its user info
/// (`postgres://USER:PASSWORD@HOST`) and a `password=` parameter of its query. The user
/// info ends at the last `@` before the query, so a password with an unescaped `/` or
/// `@` in it is hidden whole too.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let mut shown = format!("{scheme}://");
    match before_query.rsplit_once('@') {
        Some((credentials, host_and_path)) => {
            match credentials.split_once(':') {
                Some((user, _)) => shown.push_str(&format!("{user}:***@")),
                None => shown.push_str(&format!("{credentials}@")),
            }
            shown.push_str(host_and_path);
        }
        None => shown.push_str(before_query),
    }
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&params.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_notify_the_channel_listeners_listen_on() {
        assert_eq!(NOTIFY, format!("NOTIFY {CHANNEL}"));
    }

    #[test]
    fn messages_never_show_a_password() {
        assert_eq!(
            without_password("postgres://devreg:s3cret@db.internal:5432/devreg"),
            "postgres://devreg:***@db.internal:5432/devreg"
        );
        assert_eq!(
            without_password("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            without_password("postgres://devreg@db:5432/devreg?sslmode=disable&password=s3cret"),
            "postgres://devreg@db:5432/devreg?sslmode=disable&password=***"
        );
        assert_eq!(
            without_password("postgresql://devreg:s3cret@db?password=s3cret"),
            "postgresql://devreg:***@db?password=***"
        );
        assert_eq!(
            without_password("postgres://devreg:s3/cr@t@db/devreg"),
            "postgres://devreg:***@db/devreg"
        );
    }

    /// What a schema file declares whatever its dialect, in the file's order: each table
    /// with its columns' names and its table constraints, and each index statement.
    fn outline(schema: &str) -> Vec<String> {
        let code: Vec<&str> = schema
            .lines()
            .map(|line| line.split("--").next().unwrap_or_default())
            .collect();
        let mut outline = Vec::new();
        for statement in code.join(" ").split(';') {
            let statement = statement.split_whitespace().collect::<Vec<_>>().join(" ");
            if statement.starts_with("CREATE INDEX") || statement.starts_with("CREATE UNIQUE") {
                outline.push(statement);
            } else if let Some(table) = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
                let (name, body) = table.split_once(" (").unwrap();
                let body = &body[..body.rfind(')').unwrap()];
                // The column definitions and constraints: commas outside parentheses.
                let mut items = vec![String::new()];
                let mut depth = 0;
                for c in body.chars() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        ',' if depth == 0 => {
                            items.push(String::new());
                            continue;
                        }
                        _ => {}
                    }
                    items.last_mut().unwrap().push(c);
                }
                let items: Vec<&str> = items
                    .iter()
                    .map(|item| {
                        let item = item.trim();
                        let first = item.split(' ').next().unwrap_or_default();
                        match first {
                            "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" | "CONSTRAINT" => item,
                            column => column,
                        }
                    })
                    .collect();
                outline.push(format!("table {name} ({})", items.join(", ")));
            }
        }
        outline
    }

    #[test]
    fn schema_pg_sql_declares_the_tables_columns_and_indexes_of_schema_sql() {
        // devreg_leases is PostgreSQL's only (several instances share the sweep).
        let postgres: Vec<String> = outline(SCHEMA)
            .into_iter()
            .filter(|item| !item.starts_with("table devreg_leases "))
            .collect();
        let sqlite = outline(super::super::SCHEMA);
        assert!(sqlite.len() > 50, "{sqlite:?}");
        for (postgres, sqlite) in postgres.iter().zip(&sqlite) {
            assert_eq!(postgres, sqlite, "schema.pg.sql differs from schema.sql");
        }
        assert_eq!(postgres.len(), sqlite.len());
    }
}
