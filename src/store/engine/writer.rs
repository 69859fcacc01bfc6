//! Group commit: one thread owns the writer connection and commits the writes that queued
//! while it was busy in one transaction, so one WAL sync covers a whole batch.
//!
//! Each write runs inside its own `SAVEPOINT`, so a write that fails (a duplicate
//! identifier, a panic) rolls back only itself and the rest of its batch still commits.
//! A write is answered only after the `COMMIT` that holds it returned: a success the
//! caller sees is durable. If that `COMMIT` fails, every write of the batch gets the
//! error and nothing of it was kept.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::checkpoint::Checkpointer;
use super::{Conn, StoreError};

/// The most writes one transaction takes; a bound on how long the first one waits.
const MAX_BATCH: usize = 256;

/// One queued write: runs inside the batch's transaction, then hears how it ended.
trait Job: Send {
    /// Runs the write inside a savepoint, which it rolls back if the write fails.
    fn run(&mut self, tx: &Transaction);
    /// Sends the answer: the write's own result once the batch committed, or the
    /// commit's failure.
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
    fn run(&mut self, tx: &Transaction) {
        let work = self.work.take().expect("a job runs once");
        self.outcome = Some(savepoint(tx, work));
    }

    fn finish(self: Box<Self>, committed: Result<(), &StoreError>) {
        let outcome = match (committed, self.outcome) {
            (_, Some(Err(own))) => Err(own),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(commit), _) => Err(commit.again().into()),
            (Ok(()), None) => Err(StoreError::Blocking("the write never ran".to_owned()).into()),
        };
        // The caller may have gone (a client that hung up); nothing is owed to it.
        let _ = self.reply.send(outcome);
    }
}

/// Runs `work` between `SAVEPOINT` and `RELEASE`, rolling back to the savepoint when it
/// fails or panics.
fn savepoint<T, E: From<StoreError>>(
    tx: &Transaction,
    work: impl FnOnce(&Conn) -> Result<T, E>,
) -> Result<T, E> {
    release(tx, "SAVEPOINT job")?;
    let outcome = super::catch_panic("a write", || work(&Conn::from(&**tx)));
    match outcome {
        Ok(value) => {
            release(tx, "RELEASE job")?;
            Ok(value)
        }
        Err(err) => {
            release(tx, "ROLLBACK TO job")?;
            release(tx, "RELEASE job")?;
            Err(err)
        }
    }
}

/// Runs one of the savepoint statements, cached: a batch runs them for every write.
fn release(tx: &Transaction, sql: &str) -> Result<(), StoreError> {
    tx.prepare_cached(sql)?.execute([])?;
    Ok(())
}

impl StoreError {
    /// The same failure again, for each write of a batch whose commit failed (here and
    /// in pg_writer.rs).
    pub(super) fn again(&self) -> StoreError {
        match self {
            StoreError::Duplicate => StoreError::Duplicate,
            StoreError::Busy(m) => StoreError::Busy(m.clone()),
            StoreError::Full => StoreError::Full,
            StoreError::Gone(m) => StoreError::Gone(m.clone()),
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            other => StoreError::Blocking(format!("commit failed: {other}")),
        }
    }
}

/// The queue into the writer thread. Dropping the last one ends the thread.
pub(super) struct Writer {
    /// `None` only while dropping.
    jobs: Mutex<Option<Sender<Box<dyn Job>>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Transactions committed, each holding one batch.
    commits: Arc<AtomicU64>,
    /// Writes ever sent to the thread: a test knows when N writes are queued.
    sent: AtomicU64,
}

impl Writer {
    /// Starts the thread that commits writes on `conn`, locking it per batch (so
    /// [`super::Db::write_sync`] can use it in between).
    pub(super) fn start(
        conn: Arc<Mutex<Connection>>,
        guard: Option<Arc<FileGuard>>,
        checkpointer: Option<Arc<Checkpointer>>,
        appended: Arc<tokio::sync::watch::Sender<u64>>,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = channel::<Box<dyn Job>>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        let thread = std::thread::Builder::new()
            .name("devreg-writer".to_owned())
            .spawn(move || {
                commit_batches(
                    &conn,
                    &queue,
                    &counted,
                    guard.as_deref(),
                    checkpointer.as_deref(),
                    &appended,
                )
            })
            .map_err(|e| StoreError::Blocking(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            jobs: Mutex::new(Some(jobs)),
            thread: Some(thread),
            commits,
            sent: AtomicU64::new(0),
        })
    }

    /// How many batches have been committed.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// How many writes have been sent to the thread, committed or not.
    #[cfg(test)]
    pub(super) fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
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
        self.sent.fetch_add(1, Ordering::SeqCst);
        answer.await.map_err(|_| gone())?
    }
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread to answer what was queued and release
    /// the connection, so a dropped database has let go of its file.
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

/// The writer thread: waits for a write, takes every write queued behind it (up to
/// [`MAX_BATCH`]), commits them together, answers them, and goes on until every
/// [`Writer`] is dropped.
fn commit_batches(
    conn: &Mutex<Connection>,
    queue: &Receiver<Box<dyn Job>>,
    commits: &AtomicU64,
    guard: Option<&FileGuard>,
    checkpointer: Option<&Checkpointer>,
    appended: &tokio::sync::watch::Sender<u64>,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        // One stat per batch: a write to a deleted file would be acknowledged and lost.
        if let Some(Err(gone)) = guard.map(FileGuard::check) {
            while let Ok(job) = queue.try_recv() {
                batch.push(job);
            }
            for job in batch.drain(..) {
                job.finish(Err(&gone));
            }
            continue;
        }
        // Writes that arrive while the connection is busy elsewhere join this batch.
        let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)
            .and_then(|tx| {
                for job in &mut batch {
                    job.run(&tx);
                }
                tx.commit().map_err(StoreError::from)
            });
        if let (Ok(()), Some(checkpointer)) = (&committed, checkpointer) {
            checkpointer.after_commit(&conn);
        }
        drop(conn);
        // Read either way, so a failed batch's flag does not carry into the next.
        let wrote_events = super::take_appended();
        if committed.is_ok() {
            commits.fetch_add(1, Ordering::Relaxed);
            if wrote_events {
                // After the commit: a stream woken now reads what was appended.
                appended.send_modify(|n| *n += 1);
            }
        }
        for job in batch.drain(..) {
            job.finish(committed.as_ref().map(|_| ()));
        }
    }
}

/// Notices when the database path stops naming the file the server has open: deleted
/// (the writes would go to an unlinked inode, gone at exit) or replaced by another file.
/// Compares the device and inode numbers of the path with those it had at open.
pub(super) struct FileGuard {
    path: String,
    /// (device, inode) at open.
    identity: (u64, u64),
    /// Whether the last check found it gone, so the log says so once per change.
    gone: AtomicBool,
}

impl FileGuard {
    /// `None` where the platform has no inode numbers, or the file cannot be read.
    pub(super) fn new(path: &str) -> Option<FileGuard> {
        Some(FileGuard {
            identity: identity(path)?,
            path: path.to_owned(),
            gone: AtomicBool::new(false),
        })
    }

    pub(super) fn check(&self) -> Result<(), StoreError> {
        if identity(&self.path) == Some(self.identity) {
            if self.gone.swap(false, Ordering::Relaxed) {
                log::warn!("database file {} is back; writes resume", self.path);
            }
            return Ok(());
        }
        if !self.gone.swap(true, Ordering::Relaxed) {
            log::error!(
                "database file {} was deleted or replaced while the server has it open; \
                 refusing writes (503) and reporting not ready until the file is back or the \
                 server restarts",
                self.path
            );
        }
        Err(StoreError::Gone(format!(
            "the database file {} was deleted or replaced while the server has it open",
            self.path
        )))
    }
}

#[cfg(unix)]
fn identity(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_path: &str) -> Option<(u64, u64)> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_file_guard_notices_a_deleted_or_replaced_file_and_its_return() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let aside = dir.path().join("aside");
        std::fs::write(&path, b"x").unwrap();
        let guard = FileGuard::new(path.to_str().unwrap()).unwrap();
        assert!(guard.check().is_ok());

        std::fs::rename(&path, &aside).unwrap();
        assert!(
            matches!(guard.check(), Err(StoreError::Gone(m)) if m.contains("deleted or replaced"))
        );
        std::fs::write(&path, b"x").unwrap();
        assert!(
            guard.check().is_err(),
            "another file at the path is not the open one"
        );

        std::fs::rename(&aside, &path).unwrap();
        assert!(guard.check().is_ok(), "the same file back: writes resume");
    }
}
