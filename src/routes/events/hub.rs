//! One reader of the event log for every open stream.
//!
//! After each commit that appended events, the hub reads what is new, once, for every org
//! that has a stream open, and checks every open stream's key in the same read; each
//! stream then takes the events its filter wants from that one read. So a commit costs
//! one read however many streams are open (it was one per stream, and 2,000 streams made
//! 20 writes take 1.83 s on an in-memory database, whose reads take the writer's
//! connection), and a stream that does not keep up costs nothing: the hub never waits
//! for a stream, and a stream that fell behind the hub's last [`KEPT`] deliveries reads
//! what it missed by itself, as a new stream does before it joins.
//!
//! A delivery says which part of the org's log it holds (`from < seq <= to`, all of it,
//! every type and device), so a stream knows when it has a gap to read by itself, and the
//! keys the read found ended, so a stream whose key was revoked (its device deleted or
//! re-keyed) ends without the events read with the revocation, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::Bytes;
use tokio::sync::broadcast;

use crate::auth::credential_for;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::metrics::StreamReads;
use crate::store::{Db, events};

/// Deliveries a stream may fall behind before it reads what it missed by itself.
const KEPT: usize = 256;

/// Events the hub reads for one org in one step; it reads again until it has them all.
const STEP: u32 = 1000;

/// The longest the hub goes without looking every open stream's key up again.
pub const RECHECK: Duration = Duration::from_secs(3);

/// A key, by its digest.
pub type Digest = [u8; 32];

/// What one read covers of an org: its name, the hub's position in its log (`None`
/// before the first read), its streams' keys.
type Wanted = (String, Option<i64>, Vec<Digest>);

/// What one read of the hub found for one org.
#[derive(Debug)]
pub struct Delivery {
    /// The org's log from after this seq...
    pub from: i64,
    /// ...through this one: every event of the org in between is in `events`.
    pub to: i64,
    pub events: Vec<Framed>,
    /// Keys of streams of this org that the read found revoked or gone.
    pub ended: Vec<Digest>,
}

/// An event as streams send it: what their filters look at, and its frame, made once for
/// every stream that sends it.
#[derive(Debug)]
pub struct Framed {
    pub seq: i64,
    pub kind: String,
    pub device_id: Option<String>,
    pub frame: Bytes,
}

impl Framed {
    pub fn of(event: events::Event) -> Framed {
        Framed {
            frame: frame(&event),
            seq: event.seq,
            kind: event.kind,
            device_id: event.device_id,
        }
    }
}

/// `event`'s Server-Sent Events frame: `id:` its seq, `event:` its type, `data:` the event.
pub fn frame(event: &events::Event) -> Bytes {
    let json = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {json}\n\n",
        event.seq, event.kind
    ))
}

/// The hub: shared by every stream of one server.
pub struct Hub {
    db: Db,
    clock: Clock,
    reads: StreamReads,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    orgs: HashMap<String, OrgFeed>,
    /// The task reading for the streams, by its number, if one runs; it stops when no
    /// stream is open.
    running: Option<u64>,
    started: u64,
}

impl Inner {
    /// Task `task` has stopped (or is stopping): the next stream starts another.
    fn stopped(&mut self, task: u64) {
        if self.running == Some(task) {
            self.running = None;
        }
    }
}

/// An org with streams open: where the hub has read its log to (`None` until its first
/// read), the channel its streams listen on, and their keys (with how many streams each).
struct OrgFeed {
    position: Option<i64>,
    sender: broadcast::Sender<Arc<Delivery>>,
    keys: HashMap<Digest, usize>,
}

impl Hub {
    pub fn new(db: Db, clock: Clock, reads: StreamReads) -> Arc<Hub> {
        Arc::new(Hub {
            db,
            clock,
            reads,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Counts a read a stream made by itself.
    pub fn count_own_read(&self) {
        self.reads.own();
    }

    /// Listens for `org_id`'s deliveries as a stream opened with key `digest`. Subscribe
    /// before the stream's first read of its own: a delivery published after that read's
    /// snapshot then reaches the stream.
    pub fn subscribe(self: &Arc<Self>, org_id: &str, digest: Digest) -> Subscription {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let feed = inner
            .orgs
            .entry(org_id.to_owned())
            .or_insert_with(|| OrgFeed {
                position: None,
                sender: broadcast::channel(KEPT).0,
                keys: HashMap::new(),
            });
        *feed.keys.entry(digest).or_default() += 1;
        let receiver = feed.sender.subscribe();
        if inner.running.is_none() {
            inner.started += 1;
            inner.running = Some(inner.started);
            actix_web::rt::spawn(run(self.clone(), inner.started));
        }
        Subscription {
            hub: self.clone(),
            org_id: org_id.to_owned(),
            digest,
            receiver,
        }
    }

    fn unsubscribe(&self, org_id: &str, digest: &Digest) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(feed) = inner.orgs.get_mut(org_id) else {
            return;
        };
        if let Some(n) = feed.keys.get_mut(digest) {
            *n -= 1;
            if *n == 0 {
                feed.keys.remove(digest);
            }
        }
        if feed.keys.is_empty() {
            inner.orgs.remove(org_id);
        }
    }

    /// What the next read covers: each org's position and its streams' keys. `None` (and
    /// the task marked stopped) when no stream is open.
    fn wanted(&self, task: u64) -> Option<Vec<Wanted>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.orgs.is_empty() {
            inner.stopped(task);
            return None;
        }
        Some(
            inner
                .orgs
                .iter()
                .map(|(org, feed)| {
                    (
                        org.clone(),
                        feed.position,
                        feed.keys.keys().copied().collect(),
                    )
                })
                .collect(),
        )
    }

    /// Publishes what a read found, moving each org's position on.
    fn publish(&self, found: Vec<(String, Delivery)>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (org, delivery) in found {
            let Some(feed) = inner.orgs.get_mut(&org) else {
                continue;
            };
            // A read only moves forward: another read's answer may not go back.
            if feed.position.is_some_and(|p| p > delivery.from) {
                continue;
            }
            feed.position = Some(delivery.to);
            // No receiver left: the last stream is going; nothing to tell.
            let _ = feed.sender.send(Arc::new(delivery));
        }
    }
}

/// A stream's place at the hub; leaving it (dropping) tells the hub.
pub struct Subscription {
    hub: Arc<Hub>,
    org_id: String,
    digest: Digest,
    pub receiver: broadcast::Receiver<Arc<Delivery>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.org_id, &self.digest);
    }
}

/// The hub's task: a read after each commit that appended events (and every [`RECHECK`]
/// for the keys alone), until no stream is open.
async fn run(hub: Arc<Hub>, task: u64) {
    // However the task ends (no stream left, or dropped with its worker), the next
    // stream to open starts another.
    let _running = Running(hub.clone(), task);
    let mut signal = hub.db.event_signal();
    // Every key is looked up at least every RECHECK, however busy other orgs keep the hub.
    let mut checked_all = tokio::time::Instant::now();
    loop {
        signal.borrow_and_update();
        let Some(wanted) = hub.wanted(task) else {
            return;
        };
        let recheck_all = checked_all.elapsed() >= RECHECK;
        if recheck_all {
            checked_all = tokio::time::Instant::now();
        }
        let now = hub.clock.now();
        hub.reads.shared();
        let read = hub
            .db
            .read(move |conn| read_for_streams(conn, wanted, recheck_all, now))
            .await;
        match read {
            Ok(found) => hub.publish(found),
            // The streams stay; the next commit or recheck reads again.
            Err(e) => log::warn!("reading the event log for the open streams failed: {e}"),
        }
        let woken = tokio::time::timeout_at(checked_all + RECHECK, signal.changed()).await;
        // The database is gone: so is every stream.
        if woken.is_ok_and(|changed| changed.is_err()) {
            return;
        }
    }
}

/// Marks the hub's task (by its number) stopped when dropped.
struct Running(Arc<Hub>, u64);

impl Drop for Running {
    fn drop(&mut self) {
        let mut inner = self.0.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.stopped(self.1);
    }
}

/// The hub's read: for each org with streams open, what its log holds past the hub's
/// position (all of it; where the hub has none yet, from the head), and which of its
/// streams' keys have ended, looked up after the events: a key revoked after an event
/// was committed is found revoked, and its stream sends nothing read with it. The keys
/// are looked up where there are new events, or for every org when `recheck_all`.
fn read_for_streams(
    conn: &crate::store::Conn,
    wanted: Vec<Wanted>,
    recheck_all: bool,
    now: crate::domain::Timestamp,
) -> Result<Vec<(String, Delivery)>, ApiError> {
    let mut found = Vec::new();
    for (org, position, keys) in wanted {
        let new = events::since(conn, &org, position, STEP)?;
        let moved = position != Some(new.to);
        if !moved && !recheck_all {
            continue;
        }
        let mut ended = Vec::new();
        for digest in keys {
            match credential_for(conn, &digest, now) {
                Ok(_) => {}
                Err(ApiError::Unauthorized(_)) => ended.push(digest),
                Err(e) => return Err(e),
            }
        }
        if !moved && ended.is_empty() {
            continue;
        }
        found.push((
            org,
            Delivery {
                from: new.from,
                to: new.to,
                events: new.events.into_iter().map(Framed::of).collect(),
                ended,
            },
        ));
    }
    Ok(found)
}
