//! The storage engine: what every store function runs on, whichever the database. [`Db`]
//! is the handle the rest of devreg holds (open, read, write, lead) and the one seam that
//! moves store functions off the async threads; a store function takes a [`Conn`]
//! (sql.rs says how one function runs on both databases). `--db postgres://…` selects
//! PostgreSQL (pg.rs), anything else is a SQLite file, opened and brought to the current
//! schema here. Nothing in `engine/` knows a resource: the SQL of devices, rounds, tokens
//! and the rest sits in the files beside it (`store::devices`, ...).
//!
//! On SQLite all writes go through a single writer connection, each in a `BEGIN
//! IMMEDIATE` transaction: writers never race each other for SQLite's lock, so a burst of
//! conflicting registrations resolves by constraint (one insert, the rest `Duplicate`)
//! instead of `SQLITE_BUSY`. Reads use a pool of connections that WAL lets run beside the
//! writer. An in-memory database has no file to share, so it is one connection for both.
//! writer.rs commits the queued writes in groups and checkpoint.rs copies the WAL back
//! off the writer's path; lock.rs keeps a second `devreg serve` off the file, and
//! migrate.rs copies a SQLite database into PostgreSQL (`devreg migrate`).
//!
//! Two schema files, on purpose: `schema.sql` (SQLite, applied here) and `schema.pg.sql`
//! (PostgreSQL, applied by pg.rs) declare the same tables, columns and indexes in the
//! same order, and a test in pg.rs holds them to it. The rest differs in ways no small
//! rewrite of one into the other says plainly: INTEGER is BIGINT there, BLOB is BYTEA
//! and REAL is DOUBLE PRECISION; six rowid keys become identity columns while two other
//! `INTEGER PRIMARY KEY`s stay plain keys; `observed_models.failed` is a BOOLEAN; the
//! counts SQLite keeps with trigger bodies are PL/pgSQL functions there; and only
//! PostgreSQL has `json_patch` and the leases. One file with dialect blocks or a list of
//! rewrites would read worse for both databases than two files that each say what their
//! database holds. docs/development.md ("Two schema files") says what a change touches.

mod checkpoint;
mod lock;
pub mod migrate;
pub mod pg;
mod pg_writer;
mod sql;
mod writer;

pub use lock::ServeLock;
pub use sql::{Conn, Dialect, Param, Row};

use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// The schema this binary writes; `PRAGMA user_version` of a devreg database.
pub const SCHEMA_VERSION: i64 = 3;
const SCHEMA: &str = include_str!("../../../schema.sql");

/// The database path that means "in memory, gone when the process exits".
pub const MEMORY: &str = ":memory:";

/// What storage can fail with, in terms the HTTP layer can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (an identifier, an org id, a key digest).
    #[error("a row with that key already exists")]
    Duplicate,
    #[error("database busy: {0}")]
    Busy(String),
    #[error("the database or its disk is full")]
    Full,
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    #[error("connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("blocking task failed: {0}")]
    Blocking(String),
    /// The database file cannot be used at all; the message names the file and why.
    #[error("{0}")]
    Unusable(String),
    /// The path no longer names the file the server has open (deleted or replaced): a
    /// write would land in a file nobody will find again, so writes are refused.
    #[error("{0}")]
    Gone(String),
    #[error("postgres: {0}")]
    Postgres(postgres::Error),
    /// The database server cannot be reached (PostgreSQL down, connection lost): a 503
    /// until it is back.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A query the caller knew returns a row returned none.
    #[error("a query returned no row")]
    NoRow,
    /// Store code that runs on SQLite only (`EXPLAIN QUERY PLAN`), called on PostgreSQL.
    #[error("{0} is not yet ported to PostgreSQL")]
    NotPorted(&'static str),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        const UNIQUE: i32 = rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE;
        const PRIMARY_KEY: i32 = rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
        match &err {
            rusqlite::Error::SqliteFailure(e, _)
                if e.extended_code == UNIQUE || e.extended_code == PRIMARY_KEY =>
            {
                StoreError::Duplicate
            }
            rusqlite::Error::SqliteFailure(e, _)
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
            {
                StoreError::Busy(err.to_string())
            }
            rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::DiskFull => {
                StoreError::Full
            }
            _ => StoreError::Sqlite(err),
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(err: postgres::Error) -> Self {
        match err.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => StoreError::Duplicate,
            Some(code)
                if *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::LOCK_NOT_AVAILABLE =>
            {
                StoreError::Busy(err.to_string())
            }
            Some(code) if *code == SqlState::DISK_FULL => StoreError::Full,
            Some(code)
                if *code == SqlState::ADMIN_SHUTDOWN
                    || *code == SqlState::CRASH_SHUTDOWN
                    || *code == SqlState::CANNOT_CONNECT_NOW =>
            {
                StoreError::Unavailable(err.to_string())
            }
            None if err.is_closed()
                || std::error::Error::source(&err).is_some_and(|s| s.is::<std::io::Error>()) =>
            {
                StoreError::Unavailable(err.to_string())
            }
            _ => StoreError::Postgres(err),
        }
    }
}

/// What the closures given to [`Db`] may fail with: a [`StoreError`] or the caller's own
/// error type, which turns storage failures into its answers with `?` and knows which of
/// its values are the database failing (counted for `/metrics`) rather than an answer.
pub trait Failure: From<StoreError> {
    /// Whether this error is a failure of the database, not a refusal such as a duplicate.
    fn is_database_failure(&self) -> bool;
}

impl Failure for StoreError {
    fn is_database_failure(&self) -> bool {
        !matches!(self, StoreError::Duplicate)
    }
}

/// A handle on the database: cheap to clone, shared by every worker.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

/// What a [`Db`] holds whichever its database.
struct Inner {
    /// Failed operations, for metrics; refused duplicates are answers, not failures.
    errors: AtomicU64,
    /// Writes [`Db::write`] answered as committed, for metrics: against
    /// [`Db::commit_count`], how many writes a commit holds.
    writes: AtomicU64,
    /// Bumped after every commit that appended events: what event streams wait on.
    appended: Arc<tokio::sync::watch::Sender<u64>>,
    engine: Engine,
}

enum Engine {
    Sqlite(Sqlite),
    Postgres(pg::Postgres),
}

struct Sqlite {
    /// The writer connection: the writer thread's, and [`Db::write_sync`]'s between its
    /// batches.
    writer: Arc<Mutex<Connection>>,
    /// The queue into the group-commit thread, for [`Db::write`].
    queue: writer::Writer,
    /// `None` for an in-memory database, whose reads go through the writer.
    readers: Option<r2d2::Pool<SqliteConnectionManager>>,
    /// Whether the path still names the open file; `None` in memory.
    guard: Option<Arc<writer::FileGuard>>,
    /// The checkpoint thread; `None` in memory, which has no WAL.
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

/// Pragmas every connection gets. `synchronous=FULL` syncs the WAL at every commit, so a
/// response sent after a commit survives a power loss, not only a process crash.
const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON;
     PRAGMA busy_timeout = 5000;
     PRAGMA synchronous = FULL;
     PRAGMA temp_store = MEMORY;
     PRAGMA cache_size = -16000;";

/// Prepared statements each connection keeps. rusqlite's default of 16 is fewer than the
/// writer runs in one mixed batch (heartbeats, syncs, telemetry, events, savepoints), so
/// it recompiled statements it had just evicted: 14% of the writer's time under the
/// fleet workload (bench/workload.sh) went to SQLite's parser and planner.
const STATEMENT_CACHE: usize = 256;

/// Process-wide SQLite settings, made once before the first connection opens (SQLite
/// takes them only before it initializes). Memory statistics off: with them on, every
/// allocation SQLite makes takes a process-wide mutex, 10% of the writer's time in a
/// registration run (`perf`, 1,000,000 devices), and devreg never reads the statistics.
fn configure_library() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. Db::open calls this before it
        // opens anything; if SQLite was initialized earlier in the process (a backup, a
        // test's own connection), it refuses with SQLITE_MISUSE and changes nothing.
        let code = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        if code != rusqlite::ffi::SQLITE_OK {
            log::debug!("SQLite kept its memory statistics (sqlite3_config: {code})");
        }
    });
}

/// What every connection gets: the pragmas and the statement cache.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(CONNECTION_PRAGMAS)
}

impl Db {
    /// Opens (creating if needed) the database at `path`, or an in-memory one for
    /// `:memory:`, or the PostgreSQL database a `postgres://` URL names, and brings its
    /// schema up to date.
    pub fn open(path: &str, read_pool_size: u32) -> Result<Db, StoreError> {
        configure_library();
        if pg::is_url(path) {
            let appended = Arc::new(tokio::sync::watch::Sender::new(0));
            let postgres = pg::Postgres::open(path, read_pool_size, &appended)?;
            return Ok(Db {
                inner: Arc::new(Inner {
                    errors: AtomicU64::new(0),
                    writes: AtomicU64::new(0),
                    appended,
                    engine: Engine::Postgres(postgres),
                }),
            });
        }
        if path == MEMORY {
            let conn = Connection::open_in_memory()?;
            configure(&conn)?;
            apply_schema(&conn, path)?;
            return Db::assemble(conn, None, None, None);
        }

        check_directory(path)?;
        let unusable = |what: &str, err: &dyn std::fmt::Display| {
            StoreError::Unusable(format!("cannot use database file {path}: {what} ({err})"))
        };
        let writer = Connection::open(Path::new(path)).map_err(|e| unusable("open failed", &e))?;
        if writer.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(StoreError::Unusable(format!(
                "cannot use database file {path}: it is read-only; devreg needs to write the \
                 file and create {path}-wal and {path}-shm beside it"
            )));
        }
        // Everything that could refuse the file runs before anything writes to it, so a
        // file devreg will not use is left as it was.
        check_version(&writer, path)?;
        // WAL persists in the file; setting it on this one connection before the pool
        // opens others avoids "database is locked" at start-up.
        writer
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(|e| unusable("switching to WAL failed", &e))?;
        configure(&writer).map_err(|e| unusable("setting pragmas failed", &e))?;
        apply_schema(&writer, path)?;

        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                configure(c)?;
                // Readers look up keys and walk list indexes; the OS page cache holds the
                // file anyway, and 4 MiB each (against the writer's 16) keeps the server
                // within its memory budget with a full pool.
                c.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -4000;")
            });
        let readers = r2d2::Pool::builder()
            .max_size(read_pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        let guard = writer::FileGuard::new(path);
        let checkpointer = checkpoint::Checkpointer::start(path)
            .map_err(|e| unusable("starting the checkpoint thread failed", &e))?;
        checkpoint::hand_over(&writer);
        Db::assemble(writer, Some(readers), guard, Some(checkpointer))
    }

    /// [`Db::open`] for the operator commands, which work on a database a server created:
    /// refuses a path with no file (a mistyped `--db`, the wrong directory) instead of
    /// creating an empty database there and then finding nothing in it.
    pub fn open_existing(path: &str, read_pool_size: u32) -> Result<Db, StoreError> {
        if !pg::is_url(path) {
            require_file(path)?;
        }
        Db::open(path, read_pool_size)
    }

    fn assemble(
        writer: Connection,
        readers: Option<r2d2::Pool<SqliteConnectionManager>>,
        guard: Option<writer::FileGuard>,
        checkpointer: Option<checkpoint::Checkpointer>,
    ) -> Result<Db, StoreError> {
        let writer = Arc::new(Mutex::new(writer));
        let guard = guard.map(Arc::new);
        let checkpointer = checkpointer.map(Arc::new);
        let appended = Arc::new(tokio::sync::watch::Sender::new(0));
        Ok(Db {
            inner: Arc::new(Inner {
                engine: Engine::Sqlite(Sqlite {
                    queue: writer::Writer::start(
                        writer.clone(),
                        guard.clone(),
                        checkpointer.clone(),
                        appended.clone(),
                    )?,
                    guard,
                    checkpointer,
                    writer,
                    readers,
                }),
                errors: AtomicU64::new(0),
                writes: AtomicU64::new(0),
                appended,
            }),
        })
    }

    /// Which dialect this database speaks.
    pub fn dialect(&self) -> Dialect {
        match self.inner.engine {
            Engine::Sqlite(_) => Dialect::Sqlite,
            Engine::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The schema version the database records: `PRAGMA user_version` on SQLite, the
    /// `devreg_schema` row on PostgreSQL. [`SCHEMA_VERSION`] once opened.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.read_sync(|conn| match conn.dialect() {
            Dialect::Sqlite => conn.query_row("PRAGMA user_version", &[], |r| r.get(0)),
            Dialect::Postgres => pg::schema_version(conn),
        })
    }

    /// Whether `holder` leads the work called `name` for the next `ttl_secs` seconds:
    /// taken when free or expired, renewed by its holder. Always on SQLite, which one
    /// process serves; on PostgreSQL one instance of several (the database's clock
    /// decides, so the instances' own clocks do not matter). `false` when the database
    /// cannot be reached.
    pub async fn lead(&self, name: &'static str, holder: String, ttl_secs: i64) -> bool {
        if self.dialect() == Dialect::Sqlite {
            return true;
        }
        self.write(move |conn| {
            conn.query_opt(
                "INSERT INTO devreg_leases (name, holder, until_s) \
                 VALUES (?1, ?2, CAST(extract(epoch FROM clock_timestamp()) AS BIGINT) + ?3) \
                 ON CONFLICT (name) DO UPDATE \
                 SET holder = excluded.holder, until_s = excluded.until_s \
                 WHERE devreg_leases.until_s < CAST(extract(epoch FROM clock_timestamp()) AS BIGINT) \
                    OR devreg_leases.holder = excluded.holder \
                 RETURNING holder",
                &[&name, &holder, &ttl_secs],
                |_| Ok(()),
            )
        })
        .await
        .is_ok_and(|led: Option<()>| led.is_some())
    }

    /// Wakes this database's event streams after a commit that appended events.
    fn announce_appended(&self) {
        if take_appended() {
            self.inner.appended.send_modify(|n| *n += 1);
        }
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction on the writer connection and commits
    /// it, on the calling thread. For the command line and start-up; handlers use
    /// [`Db::write`].
    pub fn write_sync<T: Send, E: Failure + Send>(
        &self,
        f: impl FnOnce(&Conn) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        let sqlite = match &self.inner.engine {
            Engine::Sqlite(sqlite) => sqlite,
            Engine::Postgres(postgres) => {
                let result = pg::off_runtime(|| {
                    let result = postgres.transaction(false, f);
                    if result.is_ok() {
                        self.announce_appended();
                    }
                    take_appended();
                    result
                });
                self.count_failure(&result);
                return result;
            }
        };
        // A panic inside `f` rolls its transaction back while unwinding, so a poisoned
        // lock still guards a consistent connection.
        let mut conn = sqlite
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let value = f(&Conn::from(&*tx))?;
            tx.commit().map_err(StoreError::from)?;
            if let Some(checkpointer) = &sqlite.checkpointer {
                checkpointer.after_commit(&conn);
            }
            Ok(value)
        })();
        if take_appended() && result.is_ok() {
            self.inner.appended.send_modify(|n| *n += 1);
        }
        self.count_failure(&result);
        result
    }

    /// A receiver that sees a change after every commit that appended events: event
    /// streams wait on it instead of polling.
    pub fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.appended.subscribe()
    }

    fn count_failure<T, E: Failure>(&self, result: &Result<T, E>) {
        if matches!(result, Err(e) if e.is_database_failure()) {
            self.inner.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many group-commit transactions the writer thread has committed: fewer than
    /// the writes when writes share commits. On PostgreSQL the writer's batches and the
    /// transactions of [`Db::write_sync`].
    pub fn commit_count(&self) -> u64 {
        match &self.inner.engine {
            Engine::Sqlite(sqlite) => sqlite.queue.commits(),
            Engine::Postgres(postgres) => postgres.commits(),
        }
    }

    /// `Err(StoreError::Gone)` when the database path no longer names the file the
    /// server has open (checked now, and before every batch of writes).
    pub fn check_file(&self) -> Result<(), StoreError> {
        match &self.inner.engine {
            Engine::Sqlite(sqlite) => sqlite.guard.as_ref().map_or(Ok(()), |g| g.check()),
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// How many writes [`Db::write`] has answered as committed.
    pub fn write_count(&self) -> u64 {
        self.inner.writes.load(Ordering::Relaxed)
    }

    /// How many database operations have failed since the server started.
    pub fn error_count(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// Copies the WAL into the database file and truncates it: at shutdown, so the file
    /// alone is the whole database. A no-op in memory.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let Engine::Sqlite(sqlite) = &self.inner.engine else {
            return Ok(());
        };
        if sqlite.readers.is_none() {
            return Ok(());
        }
        let conn = sqlite
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Runs `f` on a read connection, on the calling thread. For the command line;
    /// handlers use [`Db::read`].
    pub fn read_sync<T: Send, E: Failure + Send>(
        &self,
        f: impl FnOnce(&Conn) -> Result<T, E> + Send,
    ) -> Result<T, E> {
        if let Engine::Postgres(_) = &self.inner.engine {
            return pg::off_runtime(|| self.read_on(f));
        }
        self.read_on(f)
    }

    /// Runs `f` on a read connection (the writer's, in memory) and counts its failure.
    /// On PostgreSQL, on the calling thread, which must not be an async one.
    fn read_on<T, E: Failure>(&self, f: impl FnOnce(&Conn) -> Result<T, E>) -> Result<T, E> {
        let result = match &self.inner.engine {
            Engine::Postgres(postgres) => postgres.transaction(true, f),
            Engine::Sqlite(sqlite) => match &sqlite.readers {
                Some(pool) => match pool.get() {
                    Ok(conn) => f(&Conn::from(&*conn)),
                    Err(e) => Err(StoreError::from(e).into()),
                },
                None => f(&Conn::from(
                    &*sqlite
                        .writer
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()),
                )),
            },
        };
        self.count_failure(&result);
        result
    }

    /// Runs `f` on the writer thread (SQLite's, or the PostgreSQL writer's), in a
    /// savepoint of a transaction shared with the writes queued beside it (group commit),
    /// and answers once that transaction has committed. A failing `f` rolls back only its
    /// own changes. `f` fails with the caller's error type, so a handler answers from
    /// inside its transaction with `?`.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: Failure + Send + 'static,
        F: FnOnce(&Conn) -> Result<T, E> + Send + 'static,
    {
        let result = match &self.inner.engine {
            Engine::Sqlite(sqlite) => sqlite.queue.write(f).await,
            Engine::Postgres(postgres) => postgres.write(f).await,
        };
        if result.is_ok() {
            self.inner.writes.fetch_add(1, Ordering::Relaxed);
        }
        self.count_failure(&result);
        result
    }

    /// [`Db::read_sync`] on the blocking pool, off the async worker threads.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: Failure + Send + 'static,
        F: FnOnce(&Conn) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        actix_web::web::block(move || db.read_on(f))
            .await
            .map_err(|e| StoreError::Blocking(e.to_string()))?
    }
}

thread_local! {
    /// Set on the thread whose transaction appended an event ([`note_appended`]), so
    /// whoever commits that transaction knows to wake the event streams.
    static APPENDED: Cell<bool> = const { Cell::new(false) };
}

/// Notes that the transaction on this thread appended an event, so its commit wakes the
/// event streams ([`Db::event_signal`]): `store::events::append` calls it. The flag lives
/// here, not in `events`, because the engine reads it at every commit and a resource
/// module is not the engine's to use.
pub(super) fn note_appended() {
    APPENDED.with(|a| a.set(true));
}

/// Runs `work`, turning a panic inside it into a [`StoreError::Blocking`] that says
/// `what` panicked and why: a transaction's closure that panics is that transaction's
/// failure, not the thread's. The three places that run one (the SQLite writer's
/// savepoints, the PostgreSQL writer's, and pg.rs's transactions) share it.
fn catch_panic<T, E: From<StoreError>>(
    what: &str,
    work: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(StoreError::Blocking(format!("{what} panicked: {why}")).into())
    })
}

/// Whether this thread appended an event since the last call; clears the flag. A write
/// that appended and then rolled back leaves it set: a stream woken for nothing finds
/// nothing new and waits again.
fn take_appended() -> bool {
    APPENDED.with(|a| a.replace(false))
}

/// Whether this thread appended an event since the flag was last taken; leaves it.
fn appended_pending() -> bool {
    APPENDED.with(Cell::get)
}

/// The one way a refused unique constraint becomes the caller's answer (a 409 naming what
/// is taken, an operator's message): `devices::register(..).on_duplicate(|| ...)?`.
pub trait OnDuplicate<T> {
    fn on_duplicate<E: From<StoreError>>(self, answer: impl FnOnce() -> E) -> Result<T, E>;
}

impl<T> OnDuplicate<T> for Result<T, StoreError> {
    fn on_duplicate<E: From<StoreError>>(self, answer: impl FnOnce() -> E) -> Result<T, E> {
        self.map_err(|err| match err {
            StoreError::Duplicate => answer(),
            other => other.into(),
        })
    }
}

/// Refuses a database path whose directory does not exist, saying so: SQLite's own
/// message ("unable to open database file") does not say which part is missing.
pub fn check_directory(path: &str) -> Result<(), StoreError> {
    let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    else {
        return Ok(());
    };
    match dir.metadata() {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(StoreError::Unusable(format!(
            "cannot use database file {path}: {} is not a directory",
            dir.display()
        ))),
        Err(_) => Err(StoreError::Unusable(format!(
            "cannot use database file {path}: the directory {} does not exist; create it \
             first (mkdir -p {}) or give another --db",
            dir.display(),
            dir.display()
        ))),
    }
}

/// Refuses a database path that names no file (or names a missing directory).
fn require_file(path: &str) -> Result<(), StoreError> {
    if path == MEMORY {
        return Err(StoreError::Unusable(format!(
            "{MEMORY} is a new, empty database every time; give the file a server uses \
             with --db or DEVREG_DB"
        )));
    }
    check_directory(path)?;
    if Path::new(path).exists() {
        return Ok(());
    }
    Err(StoreError::Unusable(format!(
        "database file {path} does not exist: give the file a server uses with --db or \
         DEVREG_DB, or run this where it is (`devreg serve --db {path}` creates a new one)"
    )))
}

/// Refuses files that are not devreg databases, are unreadable, or have a schema newer
/// than this binary's. Only reads.
fn check_version(conn: &Connection, path: &str) -> Result<(), StoreError> {
    let unusable =
        |what: String| StoreError::Unusable(format!("cannot use database {path}: {what}"));
    let (version, tables): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), \
                    (SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| unusable(format!("it is not a readable SQLite database ({e})")))?;
    if version > SCHEMA_VERSION {
        return Err(unusable(format!(
            "its schema version {version} is newer than this devreg's ({SCHEMA_VERSION}); \
             upgrade devreg"
        )));
    }
    if version == 0 && tables > 0 {
        return Err(unusable(
            "it holds tables but is not a devreg database (its user_version is 0)".to_owned(),
        ));
    }
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`]. Every statement of `schema.sql` is
/// idempotent, so applying it to a current database changes nothing; what an older
/// version lacks is filled in by [`MIGRATIONS`], in the same transaction.
fn apply_schema(conn: &Connection, path: &str) -> Result<(), StoreError> {
    let failed = |e: rusqlite::Error| {
        let _ = conn.execute_batch("ROLLBACK");
        StoreError::Unusable(format!(
            "cannot use database {path}: applying the schema failed ({e})"
        ))
    };
    conn.execute_batch("BEGIN IMMEDIATE").map_err(failed)?;
    let before: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(failed)?;
    let mut batch = String::from(SCHEMA);
    // A new database (version 0) has nothing to migrate.
    if before > 0 {
        for (version, sql) in MIGRATIONS {
            if before < *version {
                batch.push_str(sql);
            }
        }
    }
    batch.push_str(&format!(
        "; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    ));
    conn.execute_batch(&batch).map_err(failed)
}

/// What a database of an older version needs beyond `schema.sql`'s new tables: the SQL
/// that brings its data to the version given.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        2,
        "; DELETE FROM device_counts;
         INSERT INTO device_counts (org_id, platform, status, n)
             SELECT org_id, platform, status, count(*) FROM devices
             GROUP BY org_id, platform, status;",
    ),
    (
        3,
        "; DELETE FROM label_counts;
         INSERT INTO label_counts (org_id, key, value, n)
             SELECT org_id, key, value, count(*) FROM device_labels
             GROUP BY org_id, key, value;
         DELETE FROM label_key_counts;
         INSERT INTO label_key_counts (org_id, key, n)
             SELECT org_id, key, count(*) FROM device_labels GROUP BY org_id, key;",
    ),
];

/// Writes a consistent copy of the database at `path` to the new file `out` while
/// servers may go on writing (`VACUUM INTO` reads one snapshot). Refuses to overwrite.
pub fn backup(path: &str, out: &Path) -> Result<(), StoreError> {
    if pg::is_url(path) {
        return Err(StoreError::Unusable(format!(
            "devreg backup copies a SQLite file; back up {} with PostgreSQL's own tools \
             (pg_dump, or the service's snapshots)",
            pg::without_password(path)
        )));
    }
    if out.exists() {
        return Err(StoreError::Unusable(format!(
            "{} already exists; a backup never overwrites a file",
            out.display()
        )));
    }
    require_file(path)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Unusable(format!("cannot open database {path} ({e})")))?;
    check_version(&conn, path)?;
    conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
    let out_text = out
        .to_str()
        .ok_or_else(|| StoreError::Unusable(format!("{} is not a UTF-8 path", out.display())))?;
    conn.execute("VACUUM INTO ?1", [out_text])?;
    Ok(())
}

/// Turns a `TEXT` column holding JSON into a raw JSON value for responses, without
/// building a tree and printing it again.
pub(crate) fn raw_json(text: String) -> rusqlite::Result<Box<serde_json::value::RawValue>> {
    serde_json::value::RawValue::from_string(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

/// [`raw_json`] for code on [`Conn`].
pub(crate) fn raw_json_text(text: String) -> Result<Box<serde_json::value::RawValue>, StoreError> {
    Ok(raw_json(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_has_every_migration_since_postgresql_support_began() {
        // PostgreSQL databases start at version 2 (store::pg::MIGRATIONS says why); a
        // schema change after that adds an entry to both lists with the same version.
        const POSTGRES_SINCE: i64 = 2;
        let versions = |list: &[(i64, &str)]| list.iter().map(|(v, _)| *v).collect::<Vec<_>>();
        let sqlite: Vec<i64> = versions(MIGRATIONS)
            .into_iter()
            .filter(|v| *v > POSTGRES_SINCE)
            .collect();
        assert_eq!(sqlite, versions(pg::MIGRATIONS));
        for (version, _) in MIGRATIONS.iter().chain(pg::MIGRATIONS) {
            assert!(*version <= SCHEMA_VERSION);
        }
    }

    fn db_with_table() -> Db {
        let db = Db::open(MEMORY, 1).unwrap();
        db.write_sync(|tx| {
            tx.batch("CREATE TABLE t (name TEXT PRIMARY KEY)")?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
        db
    }

    fn names(db: &Db) -> Vec<String> {
        db.read_sync(|conn| conn.query_all("SELECT name FROM t ORDER BY name", &[], |r| r.get(0)))
            .unwrap()
    }

    type Pending = std::pin::Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

    /// A write of `f`, not yet sent.
    fn write(db: &Db, f: impl FnOnce(&Conn) -> Result<(), StoreError> + Send + 'static) -> Pending {
        let db = db.clone();
        Box::pin(async move { db.write(f).await })
    }

    fn insert(db: &Db, name: &'static str) -> Pending {
        write(db, move |tx| {
            tx.execute("INSERT INTO t VALUES (?1)", &[&name])?;
            Ok(())
        })
    }

    /// Queues `writes` while the writer connection is held, so the writer thread takes
    /// them as one batch once it is released.
    async fn in_one_batch(db: &Db, writes: Vec<Pending>) -> Vec<Result<(), StoreError>> {
        let Engine::Sqlite(sqlite) = &db.inner.engine else {
            unreachable!("these tests use SQLite")
        };
        let held = sqlite.writer.lock().unwrap();
        let queued = sqlite.queue.sent() + writes.len() as u64;
        let tasks: Vec<_> = writes.into_iter().map(tokio::spawn).collect();
        // Every task sends its job on its first poll, on the runtime's other worker;
        // wait until all are sent (blocking this worker, so the guard stays put). The
        // writer thread takes the queue after it gets the connection: one batch.
        while sqlite.queue.sent() < queued {
            std::thread::yield_now();
        }
        drop(held);
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_together_share_one_commit() {
        let db = db_with_table();
        let before = db.commit_count();

        let outcomes = in_one_batch(
            &db,
            vec![insert(&db, "a"), insert(&db, "b"), insert(&db, "c")],
        )
        .await;

        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        assert_eq!(names(&db), ["a", "b", "c"]);
        assert_eq!(db.commit_count() - before, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_rolls_back_only_itself() {
        let db = db_with_table();
        let panicking = write(&db, |tx| {
            tx.execute("INSERT INTO t VALUES ('from-the-panic')", &[])?;
            panic!("boom")
        });

        let outcomes = in_one_batch(
            &db,
            vec![
                insert(&db, "a"),
                insert(&db, "a"),
                panicking,
                insert(&db, "b"),
            ],
        )
        .await;

        // The two inserts of "a" may queue in either order: one wins, the other is the
        // duplicate.
        let a_twice = [&outcomes[0], &outcomes[1]];
        assert_eq!(
            a_twice.iter().filter(|o| o.is_ok()).count(),
            1,
            "{a_twice:?}"
        );
        assert!(
            a_twice
                .iter()
                .any(|o| matches!(o, Err(StoreError::Duplicate))),
            "{a_twice:?}"
        );
        assert!(matches!(&outcomes[2], Err(StoreError::Blocking(m)) if m.contains("boom")));
        assert!(outcomes[3].is_ok());
        assert_eq!(names(&db), ["a", "b"]);
        // The writer thread survived the panic.
        insert(&db, "c").await.unwrap();
        assert_eq!(names(&db), ["a", "b", "c"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_fails_every_write_of_its_batch() {
        let db = db_with_table();
        // A deferred foreign key fails only at COMMIT, failing the whole batch.
        db.write_sync(|tx| {
            tx.batch(
                "CREATE TABLE child (parent TEXT REFERENCES t(name) DEFERRABLE INITIALLY DEFERRED)",
            )?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
        let orphan = write(&db, |tx| {
            tx.execute("INSERT INTO child VALUES ('nobody')", &[])?;
            Ok(())
        });

        let outcomes = in_one_batch(&db, vec![insert(&db, "a"), orphan]).await;

        assert!(outcomes.iter().all(Result::is_err), "{outcomes:?}");
        assert!(names(&db).is_empty());
        insert(&db, "b").await.unwrap();
        assert_eq!(names(&db), ["b"]);
    }
}
