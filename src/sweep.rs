//! The connectivity sweep: a background thread that notices devices whose last heartbeat
//! crossed a threshold (online → stale → offline) and writes
//! `device.connectivity_changed` once per transition, trims events past retention and
//! forgets telemetry batch ids past the day they are remembered for, and deletes federated
//! uploads abandoned past `--upload-abandon-after`.
//!
//! Requests never scan the fleet for this: the sweep reads its candidates on a read
//! connection (the writer goes on meanwhile) and announces each in a short write that
//! checks it again. A device coming back online is announced by its own heartbeat (see
//! `store::devices::heartbeat`). Time is the server's [`Clock`], so test control
//! moves it and asks for a sweep instead of sleeping.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::domain::{ConnectivityRule, Timestamp};
use crate::store::{Db, StoreError, artifact_reclaim, devices, events, federation, telemetry};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Devices announced stale or offline.
    pub announced: usize,
    /// Events removed by retention.
    pub trimmed: usize,
}

/// Asks the sweep thread for sweeps; the thread ends when every `Sweeper` is dropped.
#[derive(Debug, Clone)]
pub struct Sweeper {
    requests: mpsc::Sender<oneshot::Sender<Result<SweepReport, String>>>,
}

/// How many devices one write announces: short writes keep heartbeats flowing beside a
/// sweep that finds many.
const ANNOUNCE_BATCH: usize = 500;
const TRIM_BATCH: u32 = 1000;

/// What a sweep reads its rules from.
#[derive(Clone)]
pub struct SweepRules {
    pub rule: ConnectivityRule,
    pub retention_secs: u64,
    /// Uploads started longer ago than this are deleted with their parts.
    pub upload_abandon_secs: u64,
    /// Between sweeps; `None` sweeps only when asked.
    pub every: Option<Duration>,
    /// Hosted artifacts' storage: abandoned uploads' bytes and the files deletions
    /// released are removed from it (issue 26).
    pub artifacts: crate::artifacts::Artifacts,
}

impl Sweeper {
    /// Starts the sweep thread.
    pub fn start(db: Db, clock: Clock, rules: SweepRules) -> Result<Sweeper, StoreError> {
        let (requests, queue) = mpsc::channel::<oneshot::Sender<Result<SweepReport, String>>>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| StoreError::Blocking(format!("cannot start the sweep runtime: {e}")))?;
        // On PostgreSQL several instances may share the database: the periodic sweep runs
        // on the one holding the lease (store::Db::lead), for three intervals, renewed at
        // every sweep. A sweep asked for (test control) runs wherever it is asked; either
        // way a transition is announced once (store::devices::announce locks the device).
        let holder = uuid::Uuid::new_v4().simple().to_string();
        let lease_secs = rules.every.map_or(60, |every| {
            3 * i64::try_from(every.as_secs()).unwrap_or(20).max(1)
        });
        std::thread::Builder::new()
            .name("devreg-sweep".to_owned())
            .spawn(move || {
                let wait = rules.every.unwrap_or(Duration::from_secs(365 * 86_400));
                loop {
                    let reply = match queue.recv_timeout(wait) {
                        Ok(reply) => Some(reply),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return,
                    };
                    if reply.is_none()
                        && !runtime.block_on(db.lead("sweep", holder.clone(), lease_secs))
                    {
                        continue;
                    }
                    let outcome = runtime
                        .block_on(sweep(&db, &clock, &rules))
                        .map_err(|e| e.to_string());
                    match reply {
                        Some(reply) => {
                            let _ = reply.send(outcome);
                        }
                        None => {
                            if let Err(e) = outcome {
                                log::warn!("connectivity sweep failed: {e}");
                            }
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Blocking(format!("cannot start the sweep thread: {e}")))?;
        Ok(Sweeper { requests })
    }

    /// Runs a sweep now, at the clock's present, and waits for it: what test control
    /// calls after moving the clock.
    pub async fn sweep_now(&self) -> Result<SweepReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Blocking("the sweep thread has stopped".to_owned());
        self.requests.send(reply).map_err(|_| gone())?;
        answer
            .await
            .map_err(|_| gone())?
            .map_err(StoreError::Blocking)
    }
}

async fn sweep(db: &Db, clock: &Clock, rules: &SweepRules) -> Result<SweepReport, StoreError> {
    let now = clock.now();
    let rule = rules.rule;
    let mut report = SweepReport::default();
    let found = db
        .read(move |conn| devices::crossings(conn, rule, now))
        .await?;
    let mut found = found.into_iter().peekable();
    while found.peek().is_some() {
        let chunk: Vec<_> = found.by_ref().take(ANNOUNCE_BATCH).collect();
        report.announced += db
            .write(move |tx| {
                let mut n = 0;
                for crossing in &chunk {
                    n += usize::from(devices::announce(tx, crossing, rule, now)?);
                }
                Ok::<_, StoreError>(n)
            })
            .await?;
    }
    let before = Timestamp(
        now.0
            .saturating_sub(i64::try_from(rules.retention_secs).unwrap_or(i64::MAX)),
    );
    loop {
        let trimmed = db
            .write(move |tx| events::trim(tx, before, TRIM_BATCH))
            .await?;
        report.trimmed += trimmed;
        if trimmed < TRIM_BATCH as usize {
            break;
        }
    }
    // Uploads abandoned: started too long ago and never completed.
    let abandoned = Timestamp(
        now.0
            .saturating_sub(i64::try_from(rules.upload_abandon_secs).unwrap_or(i64::MAX)),
    );
    while db
        .write(move |tx| federation::reclaim_abandoned(tx, abandoned, TRIM_BATCH))
        .await?
        == TRIM_BATCH as usize
    {}
    // Telemetry batch ids past the day they are remembered for.
    while db
        .write(move |tx| telemetry::forget_batches(tx, now, TRIM_BATCH))
        .await?
        == TRIM_BATCH as usize
    {}
    reclaim_artifacts(db, &rules.artifacts, now).await?;
    Ok(report)
}

/// Removes from storage the bytes of uploads abandoned past their `expires_at`
/// (`--artifact-upload-abandon-after`) and the files deletions released that nothing
/// names any more. The database says what goes first, so a file is never named by a row
/// that outlives it; this thread is the sweep's own, so the file removals block nothing
/// else.
async fn reclaim_artifacts(
    db: &Db,
    store: &crate::artifacts::Artifacts,
    now: Timestamp,
) -> Result<(), StoreError> {
    loop {
        let expired = db
            .write(move |tx| artifact_reclaim::expire_uploads(tx, now))
            .await?;
        for id in &expired.uploads {
            store.discard_upload(id);
        }
        for sha256 in &expired.blobs {
            store.remove_blob(sha256);
        }
        if !artifact_reclaim::full_batch(expired.uploads.len()) {
            break;
        }
    }
    loop {
        let unnamed = db.write(artifact_reclaim::take_released).await?;
        for sha256 in &unnamed {
            store.remove_blob(sha256);
        }
        if !artifact_reclaim::full_batch(unnamed.len()) {
            break;
        }
    }
    Ok(())
}
