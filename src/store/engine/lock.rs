//! The advisory lock a serving process holds on its database, so a second `devreg serve`
//! on the same file refuses to start instead of running beside the first: two servers
//! would each keep their own rate limits, counters and first-start state over one file.
//!
//! The lock is an OS file lock (`flock` on Unix) on `DB.lock` beside the database, so it
//! goes away with the process however it ends; the file itself stays, and says who holds
//! it. Operator commands do not take it: they are meant to run beside a server.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};

use super::{MEMORY, StoreError, check_directory};

/// A held lock on a database file; dropping it releases the lock.
pub struct ServeLock {
    file: File,
}

impl ServeLock {
    /// Takes the lock on `db`, or says which process holds it. `None` for an in-memory
    /// database, which no other process can open, and for a PostgreSQL database, which
    /// several instances serve together by design.
    pub fn acquire(db: &str) -> Result<Option<ServeLock>, StoreError> {
        if db == MEMORY || super::pg::is_url(db) {
            return Ok(None);
        }
        check_directory(db)?;
        let path = format!("{db}.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                let dir = std::path::Path::new(db)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."));
                StoreError::Unusable(if e.kind() == std::io::ErrorKind::PermissionDenied {
                    format!(
                        "cannot use database file {db}: its directory {} is read-only to \
                         devreg, which needs to create {path}, {db}-wal and {db}-shm there",
                        dir.display()
                    )
                } else {
                    format!("cannot use database file {db}: cannot create {path} ({e})")
                })
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another devreg serve"
                } else {
                    holder
                };
                return Err(StoreError::Unusable(format!(
                    "database {db} is already served by {holder} (it holds {path}); stop \
                     that server first, or give this one another --db"
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Unusable(format!("cannot lock {path}: {e}")));
            }
        }
        let lock = ServeLock { file };
        lock.describe(None);
        Ok(Some(lock))
    }

    /// Records in the lock file who holds it, and where it listens once known, for the
    /// message a second server prints.
    pub fn describe(&self, url: Option<&str>) {
        let mut text = format!("devreg serve (pid {})", std::process::id());
        if let Some(url) = url {
            text = format!("devreg serve (pid {}, {url})", std::process::id());
        }
        // Best effort: the lock is what matters, the text only explains it.
        let mut file = &self.file;
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.flush());
    }
}

impl Drop for ServeLock {
    /// Empties the file, so it names no process once none holds it; the OS releases the
    /// lock when the file closes. (The file is not removed: another process may already
    /// have opened it to wait for the lock.)
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}
