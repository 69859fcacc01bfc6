//! `GET /api/v1/events/stream`
//!
//! Server-Sent Events: `id:` is the event's seq, `event:` its type, `data:` the event as
//! JSON. A reader that reconnects sends the last seq it got as `Last-Event-ID` (browsers'
//! `EventSource` does so by itself) and gets exactly the events after it: none skipped,
//! none twice. The stream reads the log after each commit that appended events (the
//! writer bumps a watch channel after committing), so it never polls; an idle stream
//! gets a keep-alive comment every few seconds.
//!
//! A stream answers to the credential that opened it: it looks the presented key up
//! again with each read and at least every [`RECHECK`], and ends (without the events it
//! would have sent) once the key is revoked, its device deleted or re-keyed, or its
//! access token ended. One credential holds at most `--max-streams-per-key` streams.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use tokio::sync::mpsc;

use super::{EventParams, parse_filter};
use crate::auth::{Access, Allow, Caller, Target, credential_for, presented_api_key};
use crate::clock::Clock;
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::{AppState, StreamSlot};
use crate::store::events;

pub const ACCESS: Access = Access {
    action: "reading events",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Events one read takes; a stream far behind catches up in steps of this many.
const BATCH: u32 = 500;

/// The longest an idle stream goes without looking its credential up again.
const RECHECK: Duration = Duration::from_secs(3);

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
    // Subscribed before the first read: a commit between that read and the first wait
    // still wakes the stream.
    let signal = state.db.event_signal();
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
    let (frames, receiver) = mpsc::channel::<Bytes>(16);
    let keepalive = Duration::from_secs(state.event_keepalive_seconds.into());
    let reader = Reader {
        db: state.db.clone(),
        clock: state.clock.clone(),
        digest,
    };
    actix_web::rt::spawn(feed(reader, filter, signal, frames, keepalive));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(Frames {
            frames: receiver,
            _slot: slot,
        }))
}

/// What a stream reads with: the database, and the digest of the key that opened it,
/// looked up again with each read.
struct Reader {
    db: crate::store::Db,
    clock: Clock,
    digest: [u8; 32],
}

/// Sends the stream's frames until the reader goes away (a send fails) or the log moved
/// past the stream's position (retention; the reader's reconnect then gets the 410).
async fn feed(
    reader: Reader,
    filter: events::Filter,
    mut signal: tokio::sync::watch::Receiver<u64>,
    frames: mpsc::Sender<Bytes>,
    keepalive: Duration,
) {
    let mut after = filter.after;
    let mut last_sent = tokio::time::Instant::now();
    if frames
        .send(Bytes::from_static(b"retry: 1000\n\n"))
        .await
        .is_err()
    {
        return;
    }
    loop {
        signal.borrow_and_update();
        let reading = events::Filter {
            after,
            limit: BATCH,
            ..filter.clone()
        };
        let (digest, now) = (reader.digest, reader.clock.now());
        let batch = reader
            .db
            .read(move |conn| {
                // The events first: any of them committed before the key is looked up, so
                // one committed after a revocation finds the revocation (also where each
                // statement reads its own snapshot, as on PostgreSQL).
                let batch = events::read(conn, &reading).map_err(ApiError::from)?;
                credential_for(conn, &digest, now)?;
                Ok(batch)
            })
            .await;
        let batch = match batch {
            Ok(batch) => batch,
            Err(ApiError::Unauthorized(why)) => {
                log::info!("event stream of org {} ends: {why}", filter.org_id);
                return;
            }
            Err(e) => {
                log::warn!("event stream of org {} ends: {e}", filter.org_id);
                return;
            }
        };
        if batch.is_empty() {
            let wait = RECHECK.min(keepalive);
            let Ok(changed) = tokio::time::timeout(wait, signal.changed()).await else {
                // Idle for a while: a keep-alive, so proxies keep the connection.
                if last_sent.elapsed() >= keepalive {
                    if frames
                        .send(Bytes::from_static(b": keep-alive\n\n"))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                }
                // Then the credential is looked up again, with the next read.
                continue;
            };
            if changed.is_err() {
                return;
            }
            continue;
        }
        for event in batch {
            after = event.seq;
            let json = serde_json::to_string(&event).unwrap_or_else(|_| "{}".to_owned());
            let frame = format!("id: {}\nevent: {}\ndata: {json}\n\n", event.seq, event.kind);
            if frames.send(Bytes::from(frame)).await.is_err() {
                return;
            }
            last_sent = tokio::time::Instant::now();
        }
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
