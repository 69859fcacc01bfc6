//! Checkpoints off the writer's path: a thread of its own copies the WAL back into the
//! database file while the writer goes on committing.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that crosses 1,000 WAL pages,
//! on the committing thread: the writer stopped to copy pages into the file and sync it
//! (19% of its time in a registration run, 5% in the fleet workload), and every write
//! queued behind it waited. Here the writer's connection has no automatic checkpoint.
//! After each commit it notes how many pages the WAL holds and, every
//! [`PAGES_PER_CHECKPOINT`] pages, wakes the checkpoint thread, which runs a `PASSIVE`
//! checkpoint on its own connection (the two files' syncs then run side by side).
//!
//! SQLite starts the WAL over only when a write begins with every page already copied.
//! Under a load that never lets the writer idle, the background checkpoint always trails
//! the latest commit by a little, so the WAL would grow without end: past
//! [`WAL_PAGE_BOUND`] pages the writer itself checkpoints after its commit (copying only
//! what the background pass has not yet), so the next write starts the WAL over. That
//! bounds the WAL at about 16 MiB whatever the load; an idle moment starts it over much
//! sooner.
//!
//! Durability is unchanged: every commit still syncs the WAL (`synchronous=FULL`) before
//! it returns; a checkpoint only moves pages that are already durable.

use std::cell::Cell;
use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use rusqlite::Connection;
use rusqlite::hooks::Wal;

use super::StoreError;

/// WAL pages between two background checkpoints: SQLite's own default interval.
pub(super) const PAGES_PER_CHECKPOINT: i32 = 1000;

/// WAL pages past which the writer checkpoints itself: 4,096 pages of 4 KiB, 16 MiB.
/// At 100,000 devices of the fleet workload (the writer never idle) a bound of 16,384
/// had p99 112 ms against this one's 83 ms: a longer WAL costs every page lookup more.
pub(super) const WAL_PAGE_BOUND: i32 = 4_096;

thread_local! {
    /// Pages in the WAL after the last commit on this thread, as SQLite's WAL hook told
    /// it; 0 once taken. The hook runs on the committing thread.
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

/// The WAL hook: remembers the page count for [`Checkpointer::after_commit`]. Setting it
/// replaces SQLite's automatic checkpoint on this connection.
fn note_wal_pages(_wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// Turns off the automatic checkpoint on the writer's connection; the [`Checkpointer`]
/// does its work.
pub(super) fn hand_over(writer: &Connection) {
    writer.wal_hook(Some(note_wal_pages));
}

/// The checkpoint thread, and what the writer knows of the WAL.
pub(super) struct Checkpointer {
    /// `None` only while dropping. One pending wake-up is enough: the pass it starts
    /// copies everything committed so far.
    wake: Option<SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// WAL pages at the last wake-up (or start-over); only the holder of the writer
    /// connection touches it.
    woken_at: AtomicI32,
}

impl Checkpointer {
    /// Starts the thread, with its own connection to the database at `path`.
    pub(super) fn start(path: &str) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        super::configure(&conn)?;
        let (wake, woken) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("devreg-checkpoint".to_owned())
            .spawn(move || {
                yield_to_the_writer();
                checkpoint_when_woken(&conn, &woken)
            })
            .map_err(|e| {
                StoreError::Blocking(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
            woken_at: AtomicI32::new(0),
        })
    }

    /// Called by the holder of the writer connection after each commit: wakes the thread
    /// every [`PAGES_PER_CHECKPOINT`] pages, and checkpoints on `writer` past
    /// [`WAL_PAGE_BOUND`].
    pub(super) fn after_commit(&self, writer: &Connection) {
        let pages = WAL_PAGES.take();
        if pages == 0 {
            return;
        }
        let mut woken_at = self.woken_at.load(Ordering::Relaxed);
        if pages < woken_at {
            // The WAL started over.
            woken_at = 0;
            self.woken_at.store(0, Ordering::Relaxed);
        }
        if pages >= WAL_PAGE_BOUND {
            // Busy when the background pass is running; the next commit tries again.
            if let Err(err) = checkpoint_passive(writer) {
                log::debug!("checkpoint on the writer's connection: {err}");
            }
            return;
        }
        if pages - woken_at >= PAGES_PER_CHECKPOINT {
            self.woken_at.store(pages, Ordering::Relaxed);
            if let Some(wake) = &self.wake {
                match wake.try_send(()) {
                    Ok(()) | Err(TrySendError::Full(())) => {}
                    Err(TrySendError::Disconnected(())) => {
                        log::warn!("the checkpoint thread has stopped")
                    }
                }
            }
        }
    }
}

impl Drop for Checkpointer {
    /// Closes the wake-up channel and waits for the thread to close its connection.
    fn drop(&mut self) {
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Lowers this thread's CPU and I/O priority (nice 10, the idle I/O class), so copying
/// pages into the file yields to the writer's WAL syncs, which every acknowledgement
/// waits for. Best effort: where the calls are refused the thread runs at the priority
/// it has.
fn yield_to_the_writer() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread, with no memory passed.
    unsafe {
        const IOPRIO_WHO_PROCESS: libc::c_int = 1;
        const IOPRIO_CLASS_IDLE: libc::c_int = 3;
        const IOPRIO_CLASS_SHIFT: libc::c_int = 13;
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            tid,
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        );
    }
}

/// Copies into the file what the WAL holds beyond every reader's snapshot, waiting for
/// no one; `SQLITE_BUSY` when another checkpoint is running.
fn checkpoint_passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

fn checkpoint_when_woken(conn: &Connection, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        if let Err(err) = checkpoint_passive(conn) {
            log::warn!("background checkpoint failed (the next one retries): {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Db;

    #[test]
    fn the_wal_is_copied_into_the_database_file_while_the_database_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devreg.db");
        let path = path.to_str().unwrap();
        let db = Db::open(path, 1).unwrap();
        let file_size = || std::fs::metadata(path).unwrap().len();
        let before = file_size();
        db.write_sync(|tx| tx.batch("CREATE TABLE blobs (b BLOB)"))
            .unwrap();
        // 3,000 pages of 4 KiB in 30 commits: three times the checkpoint interval.
        for _ in 0..30 {
            db.write_sync(|tx| {
                tx.execute(
                    "INSERT INTO blobs VALUES (zeroblob(?1))",
                    &[&(100_i64 * 4096)],
                )?;
                Ok::<_, crate::store::StoreError>(())
            })
            .unwrap();
        }
        // Only a checkpoint writes pages into the file itself; the commits went to the WAL.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while file_size() < before + 4 * 1024 * 1024 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint copied the WAL into the file (size {} bytes, {} before)",
                file_size(),
                before
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
