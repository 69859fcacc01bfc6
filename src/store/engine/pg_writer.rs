//! Group commit on PostgreSQL: one thread per instance takes the writes that queued while
//! its last transaction committed and commits them together, so one WAL flush (with
//! PostgreSQL's durable defaults, one `fsync`) covers a whole batch, as the SQLite writer
//! (writer.rs) does.
//!
//! The promise is the same: a write is answered only after the `COMMIT` that holds it
//! returned, so a success the caller sees is committed; if that `COMMIT` fails, every
//! write of the batch gets the error and nothing of it was kept. Each write runs inside
//! its own `SAVEPOINT`, so a write that fails (a duplicate, a panic, or the victim of a
//! deadlock with another instance's batch) rolls back only itself, releasing what it
//! locked, and the rest of its batch still commits. A write whose closure swallowed a
//! failed statement and returned success is caught at its `RELEASE` (PostgreSQL refuses
//! it in an aborted transaction) and answered with that error, so a `COMMIT` never runs
//! on an aborted transaction (which PostgreSQL would turn into a silent rollback).
//!
//! Why one writer per instance: a batch holds its row locks until it commits, so two
//! writers of one instance would wait on each other's hot rows (an org's `event_seqs`
//! row, its `orgs` row) and could deadlock each other; one writer never does. Several
//! instances on one database each have their own writer, ordered by PostgreSQL's row
//! locks and unique constraints as before. A batch takes at most [`MAX_BATCH`] writes:
//! each savepoint that writes is a subtransaction, and PostgreSQL keeps 64 of them per
//! backend in shared memory before every other session's snapshot has to look them up in
//! `pg_subtrans`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::sql::PgConn;
use super::{Conn, StoreError};

/// The most writes one transaction takes: PostgreSQL's per-backend subtransaction cache
/// (`PGPROC_MAX_CACHED_SUBXIDS`).
const MAX_BATCH: usize = 64;

/// Where a batch gets its connection: pg.rs's pool, checked out per batch, so a
/// connection the server dropped is replaced as for every other transaction. (Generic
/// over pg.rs's manager so this file need not name it: pg.rs uses this one.)
pub(super) trait Manager: r2d2::ManageConnection<Connection = PgConn> {}

impl<M: r2d2::ManageConnection<Connection = PgConn>> Manager for M {}

/// One queued write: runs inside the batch's transaction, then hears how it ended.
trait Job: Send {
    /// Runs the write (inside the savepoint the batch set for it); whether it succeeded.
    fn run(&mut self, conn: &mut PgConn) -> bool;
    /// Turns the write's success into `failure`: its `RELEASE` found a statement of it had
    /// failed, so it is rolled back.
    fn refuse(&mut self, failure: StoreError);
    /// Sends the answer: the write's own failure, or its result once the batch
    /// committed, or the batch's failure.
    fn finish(self: Box<Self>, committed: Result<(), &StoreError>);
}

struct Write<T, E, F> {
    work: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job for Write<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
    F: FnOnce(&Conn) -> Result<T, E> + Send,
{
    fn run(&mut self, conn: &mut PgConn) -> bool {
        let work = self.work.take().expect("a job runs once");
        let outcome = super::catch_panic("a write", || work(&Conn::postgres(conn)));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn refuse(&mut self, failure: StoreError) {
        self.outcome = Some(Err(failure.into()));
    }

    fn finish(self: Box<Self>, committed: Result<(), &StoreError>) {
        let outcome = match (committed, self.outcome) {
            (_, Some(Err(own))) => Err(own),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(failed), _) => Err(failed.again().into()),
            (Ok(()), None) => Err(StoreError::Blocking("the write never ran".to_owned()).into()),
        };
        // The caller may have gone (a client that hung up); nothing is owed to it.
        let _ = self.reply.send(outcome);
    }
}

/// The queue into the writer thread. Dropping it ends the thread.
pub(super) struct PgWriter {
    /// `None` only while dropping.
    jobs: Mutex<Option<Sender<Box<dyn Job>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PgWriter {
    /// Starts the thread that commits the queued writes on connections from `pool`,
    /// counting each batch committed in `commits`; a batch that appended events sends
    /// `notify` (the NOTIFY statement the instances' listeners wait on) before its commit.
    pub(super) fn start<M: Manager>(
        pool: r2d2::Pool<M>,
        shown: String,
        notify: &'static str,
        commits: Arc<AtomicU64>,
        appended: Arc<tokio::sync::watch::Sender<u64>>,
    ) -> Result<PgWriter, StoreError> {
        let (jobs, queue) = channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("devreg-pg-writer".to_owned())
            .spawn(move || {
                let to = Target {
                    pool: &pool,
                    shown: &shown,
                    notify,
                };
                commit_batches(&to, &queue, &commits, &appended)
            })
            .map_err(|e| StoreError::Blocking(format!("cannot start the writer thread: {e}")))?;
        Ok(PgWriter {
            jobs: Mutex::new(Some(jobs)),
            thread: Some(thread),
        })
    }

    /// Queues `work` and waits for the commit that holds it.
    pub(super) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Conn) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Write {
            work: Some(work),
            outcome: None,
            reply,
        });
        let gone = || StoreError::Blocking("the writer thread has stopped".to_owned());
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

impl Drop for PgWriter {
    /// Closes the queue and waits for the thread to answer what was queued.
    fn drop(&mut self) {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        // (A write that held the last handle is dropped on the thread itself, which
        // cannot wait for itself; it ends on its own once this returns.)
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// What the writer thread commits to.
struct Target<'a, M: Manager> {
    pool: &'a r2d2::Pool<M>,
    /// The database's URL without its password, for messages.
    shown: &'a str,
    notify: &'static str,
}

/// The writer thread: waits for a write, takes every write queued behind it (up to
/// [`MAX_BATCH`]), commits them together, answers them, and goes on until the
/// [`PgWriter`] is dropped.
fn commit_batches<M: Manager>(
    to: &Target<M>,
    queue: &Receiver<Box<dyn Job>>,
    commits: &AtomicU64,
    appended: &tokio::sync::watch::Sender<u64>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Whatever a previous batch left, this one starts clean.
        let _ = super::take_appended();
        let committed = commit(to, &mut batch);
        // Read either way, so a failed batch's flag does not carry into the next.
        let wrote_events = super::take_appended();
        if committed.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
            if wrote_events {
                // This instance's streams at once; the NOTIFY wakes the others'.
                appended.send_modify(|n| *n += 1);
            }
        }
        for job in batch.drain(..) {
            job.finish(committed.as_ref().map(|_| ()));
        }
    }
}

/// Runs `batch` in one transaction, each write in a savepoint, and commits it. The
/// statement that ends one write's savepoint sets the next one's, in one round trip.
fn commit<M: Manager>(to: &Target<M>, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    let mut conn = begin(to)?;
    let ran = (|| {
        let last = batch.len() - 1;
        for (i, job) in batch.iter_mut().enumerate() {
            let next = if i < last { "SAVEPOINT job" } else { "" };
            if job.run(&mut conn) {
                match conn.batch(&format!("RELEASE SAVEPOINT job; {next}")) {
                    Ok(()) => continue,
                    // A statement failed and the write went on: it is not kept. (Or the
                    // connection is gone, and the rollback below fails the batch.)
                    Err(refused) => job.refuse(refused),
                }
            }
            conn.batch(&format!(
                "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job; {next}"
            ))?;
        }
        if super::appended_pending() {
            // Delivered at commit to every listening instance, this one too.
            conn.batch(&format!("{}; COMMIT", to.notify))
        } else {
            conn.batch("COMMIT")
        }
    })();
    if ran.is_err() {
        // A broken connection fails this too, and the pool drops it.
        let _ = conn.batch("ROLLBACK");
    }
    ran
}

/// A pooled connection in a new transaction, with the first write's savepoint set.
/// Nothing of the batch has run yet, so a connection the server dropped since its last
/// use (a restart) is tried once more.
fn begin<M: Manager>(to: &Target<M>) -> Result<r2d2::PooledConnection<M>, StoreError> {
    let mut last = None;
    for _ in 0..2 {
        let mut conn = to
            .pool
            .get()
            .map_err(|e| StoreError::Unavailable(format!("no connection to {} ({e})", to.shown)))?;
        match conn.batch("BEGIN; SAVEPOINT job") {
            Ok(()) => return Ok(conn),
            Err(e) => {
                // (BEGIN may have run; a connection that went back in a transaction
                // would start the next one inside it.)
                let _ = conn.batch("ROLLBACK");
                last = Some(e);
            }
        }
    }
    Err(last.expect("tried at least once"))
}
