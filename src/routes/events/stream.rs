//! `GET /api/v1/events/stream`
//!
//! Server-Sent Events: `id:` is the event's seq, `event:` its type, `data:` the event as
//! JSON. A reader that reconnects sends the last seq it got as `Last-Event-ID` (browsers'
//! `EventSource` does so by itself) and gets exactly the events after it: none skipped,
//! none twice. A stream reads the log by itself until it has caught up, then takes its
//! events from the [`super::hub`]'s one read after each commit that appended events, so
//! it never polls and a commit costs one read however many streams are open; an idle
//! stream gets a keep-alive comment every few seconds.
//!
//! A stream answers to the credential that opened it: its key is looked up again with
//! each read (its own or the hub's, at least every [`super::hub::RECHECK`]), and it ends
//! (without the events it would have sent) once the key is revoked, its device deleted
//! or re-keyed, or its access token ended. One credential holds at most
//! `--max-streams-per-key` streams.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use tokio::sync::{broadcast, mpsc};

use super::hub::{Hub, Subscription, frame};
use super::{EventParams, parse_filter};
use crate::auth::{Access, Allow, Caller, Target, credential_for, presented_api_key};
use crate::clock::Clock;
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::{AppState, StreamSlot};
use crate::store::events::{self, DeviceFilter};

pub const ACCESS: Access = Access {
    action: "reading events",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Events one read takes; a stream far behind catches up in steps of this many.
const BATCH: u32 = 500;

/// Stream events
///
/// The same events as `GET /api/v1/events`, as Server-Sent Events (`text/event-stream`):
/// first those after `Last-Event-ID` (or `after`), then each new one as it is committed.
/// `id:` is the seq, `event:` the type, `data:` the event as JSON. Idle streams get a
/// `: keep-alive` comment. The 4xx answers come before the stream starts, as JSON. The
/// stream ends when its key is revoked (or its device deleted or re-keyed), without
/// sending the events after; one key holds at most the server's
/// `--max-streams-per-key` streams at once (default 8), and one more is a 429.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "events",
    params(EventParams,
        ("Last-Event-ID" = Option<String>, Header, nullable = false, pattern = "^ *([0-9]{1,18})? *$",
            description = "The seq of the last event received: resume after it.")),
    responses(
        (status = 200, description = "The stream.", content_type = "text/event-stream",
            body = inline(crate::schema::ServerSentEvent),
            example = "id: 42\nevent: device.registered\ndata: {\"seq\":42,\"type\":\"device.registered\",\"org_id\":\"org_demo\",\"device_id\":\"01a2147f-daeb-7763-909c-9e315a041b31\",\"at\":\"2026-02-23T16:30:00Z\",\"data\":{\"device_id\":\"laptop-001\"}}\n\n"),
        (status = 400, description = "`after`, `Last-Event-ID` or `type` is invalid."),
        (status = 403, description = "Not the org's secret key, or `org_id` is another org."),
        (status = 404, description = "`device_id` names no device of the org."),
        (status = 410, description = "The resume point is before the retained log; the \
            message says where it starts."),
        (status = 429, description = "Rate limited: the key's bucket is empty; or the key \
            already holds the server's `--max-streams-per-key` open streams. Retry after \
            `Retry-After` seconds."),
    ),
)]
pub async fn stream_events(
    state: web::Data<AppState>,
    hub: web::Data<Hub>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let digest = presented_api_key(&req)?.digest();
    // An empty Last-Event-ID is a reader that has received nothing yet.
    let last_event_id = match req.headers().get("last-event-id") {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::BadRequest("the Last-Event-ID header is not plain text".to_owned())
        })?)
        .filter(|text| !text.trim().is_empty()),
    };
    let filter = parse_filter(
        &credential,
        parse_query::<EventParams>(&req)?,
        last_event_id,
    )?;
    let filter = state
        .db
        .read(move |conn| events::resolve(conn, filter))
        .await?;
    let slot = state
        .event_streams
        .take(&credential.key_id)
        .ok_or_else(|| ApiError::RateLimited {
            message: format!(
                "this key already holds {} open event streams, the most one key may (the \
                 server's --max-streams-per-key); close one, then retry",
                state.event_streams.max()
            ),
            // A closed stream's slot is freed when the server notices the hang-up, at
            // a keep-alive's write.
            retry_after_secs: state.event_keepalive_seconds.into(),
        })?;
    // Subscribed before the stream's first read: a delivery after that read's snapshot
    // reaches it.
    let hub = hub.into_inner();
    let subscription = hub.subscribe(&filter.org_id, digest);
    let (frames, receiver) = mpsc::channel::<Bytes>(16);
    let keepalive = Duration::from_secs(state.event_keepalive_seconds.into());
    let reader = Reader {
        db: state.db.clone(),
        clock: state.clock.clone(),
        digest,
    };
    actix_web::rt::spawn(feed(reader, filter, subscription, hub, frames, keepalive));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(Frames {
            frames: receiver,
            _slot: slot,
        }))
}

/// What a stream reads with by itself (to catch up, and after a gap): the database, and
/// the digest of the key that opened it, looked up again with each read.
struct Reader {
    db: crate::store::Db,
    clock: Clock,
    digest: [u8; 32],
}

/// The stream stops: its reader went away (a send failed), or its key was revoked
/// (device deleted, re-keyed, token ended) or a read failed (logged).
struct Ended;

/// Sends the stream's frames until the reader goes away (a send fails), its key ends,
/// or the log moved past the stream's position (retention; the reader's reconnect then
/// gets the 410). It reads by itself until it has caught up, then takes its events from
/// the hub's deliveries, and reads by itself again after any gap (it fell behind the
/// hub's kept deliveries, or the hub's position skipped).
async fn feed(
    reader: Reader,
    filter: events::Filter,
    mut subscription: Subscription,
    hub: Arc<Hub>,
    frames: mpsc::Sender<Bytes>,
    keepalive: Duration,
) {
    // The log up to here has been sent (what the filter wants of it).
    let mut seen = filter.after;
    let mut last_sent = tokio::time::Instant::now();
    if frames
        .send(Bytes::from_static(b"retry: 1000\n\n"))
        .await
        .is_err()
    {
        return;
    }
    loop {
        if let Err(Ended) =
            catch_up(&reader, &hub, &filter, &mut seen, &frames, &mut last_sent).await
        {
            return;
        }
        // Live: the hub's deliveries, until a gap sends the stream to read by itself.
        loop {
            let next = tokio::time::timeout_at(last_sent + keepalive, subscription.receiver.recv());
            let delivery = match next.await {
                Err(_) => {
                    // Idle for a while: a keep-alive, so proxies keep the connection.
                    if frames
                        .send(Bytes::from_static(b": keep-alive\n\n"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                    continue;
                }
                Ok(received) => match received {
                    Ok(delivery) => delivery,
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if delivery.ended.contains(&reader.digest) {
                log::info!(
                    "event stream of org {} ends: its key was revoked or is gone",
                    filter.org_id
                );
                return;
            }
            if delivery.to <= seen {
                continue;
            }
            if delivery.from > seen {
                break;
            }
            for event in delivery.events.iter().filter(|e| e.seq > seen) {
                if wanted(&filter, &event.kind, event.device_id.as_deref()) {
                    if frames.send(event.frame.clone()).await.is_err() {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                }
            }
            seen = delivery.to;
        }
    }
}

/// Reads what the stream has not seen by itself, a [`BATCH`] at a time, with its key
/// looked up in each read, and sends it; `seen` ends at the log's head as that last read
/// found it.
async fn catch_up(
    reader: &Reader,
    hub: &Hub,
    filter: &events::Filter,
    seen: &mut i64,
    frames: &mpsc::Sender<Bytes>,
    last_sent: &mut tokio::time::Instant,
) -> Result<(), Ended> {
    loop {
        let reading = events::Filter {
            after: *seen,
            limit: BATCH,
            ..filter.clone()
        };
        let (digest, now) = (reader.digest, reader.clock.now());
        hub.count_own_read();
        let read = reader
            .db
            .read(move |conn| read_own(conn, &reading, &digest, now))
            .await;
        let (batch, head) = match read {
            Ok(read) => read,
            Err(ApiError::Unauthorized(why)) => {
                log::info!("event stream of org {} ends: {why}", filter.org_id);
                return Err(Ended);
            }
            Err(e) => {
                log::warn!("event stream of org {} ends: {e}", filter.org_id);
                return Err(Ended);
            }
        };
        let complete = batch.len() < BATCH as usize;
        for event in &batch {
            *seen = event.seq;
            if frames.send(frame(event)).await.is_err() {
                return Err(Ended);
            }
            *last_sent = tokio::time::Instant::now();
        }
        if complete {
            // Read before the page, the head is where the page ended at the latest.
            *seen = (*seen).max(head);
            return Ok(());
        }
    }
}

/// A stream's own read: the page `reading` asks for and the log's head, then its key
/// looked up. The events first: any of them committed before the key is looked up, so one
/// committed after a revocation finds the revocation (also where each statement reads its
/// own snapshot, as on PostgreSQL).
fn read_own(
    conn: &crate::store::Conn,
    reading: &events::Filter,
    digest: &[u8; 32],
    now: crate::domain::Timestamp,
) -> Result<(Vec<events::Event>, i64), ApiError> {
    let head = events::last_seq(conn, &reading.org_id)?;
    let batch = events::read(conn, reading)?;
    credential_for(conn, digest, now)?;
    Ok((batch, head))
}

/// Whether an event of the stream's org, of type `kind` about device `device_id`, is one
/// `filter` asks for.
fn wanted(filter: &events::Filter, kind: &str, device_id: Option<&str>) -> bool {
    filter.kind.is_none_or(|wanted| wanted == kind)
        && match &filter.device {
            None => true,
            Some(DeviceFilter::Id(id)) => device_id == Some(id.as_str()),
            // Resolved to its UUID before the stream started.
            Some(DeviceFilter::Named(_)) => false,
        }
}

/// The response body: the frames [`feed`] sends, as they come, and the stream's slot
/// among its key's, freed when the body is dropped.
struct Frames {
    frames: mpsc::Receiver<Bytes>,
    _slot: StreamSlot,
}

impl futures_core::Stream for Frames {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.frames.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}
