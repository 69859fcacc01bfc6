//! One read of the event log per commit serves every open stream (issue 29, security 8):
//! a stream reads by itself only to catch up, so many streams, reading or stalled, add no
//! reads to a write, and each takes from the shared read exactly what its filter asks.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::events::Stream;
use crate::helpers::{TestApp, spawn_app_with};

/// The `devreg_event_stream_reads_total` series of `reader` (`shared` or `own`).
async fn stream_reads(app: &TestApp, reader: &str) -> u64 {
    let series = format!("devreg_event_stream_reads_total{{reader=\"{reader}\"}}");
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in the metrics:\n{text}"))
}

/// Waits until streams have made at least `n` reads by themselves: each stream's first
/// read, as it opens, is its own.
async fn until_own_reads(app: &TestApp, n: u64) {
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while stream_reads(app, "own").await < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the streams had not made their first reads after 20 s: {} of {n}",
        stream_reads(app, "own").await
    );
}

#[tokio::test]
async fn a_commit_is_read_once_for_all_open_streams_and_stalled_streams_hold_up_no_write() {
    const READING: usize = 100;
    const STALLED: usize = 100;
    const WRITES: usize = 20;
    let app = spawn_app_with(|config| config.max_streams_per_key = 0).await;
    let mut reading = Vec::new();
    for _ in 0..READING {
        reading.push(Stream::open(&app, app.secret_key(), None).await);
    }
    // Opened and never read from.
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        let response = app
            .client
            .get(app.url("/api/v1/events/stream"))
            .bearer_auth(app.secret_key())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        stalled.push(response);
    }
    until_own_reads(&app, (READING + STALLED) as u64).await;
    app.register_device("first").await;
    for stream in &mut reading {
        let frame = &stream.next(1).await[0];
        assert_eq!(
            (frame.event.as_str(), &frame.data["data"]["device_id"]),
            ("device.registered", &json!("first"))
        );
    }
    let (shared, own) = (
        stream_reads(&app, "shared").await,
        stream_reads(&app, "own").await,
    );

    // Each write acknowledged (a 201) with 200 streams open, half of them stalled.
    for i in 0..WRITES {
        app.register_device(&format!("device-{i}")).await;
    }
    for stream in &mut reading {
        let frames = stream.next(WRITES).await;
        let names: Vec<_> = frames
            .iter()
            .map(|f| f.data["data"]["device_id"].clone())
            .collect();
        let expected: Vec<_> = (0..WRITES).map(|i| json!(format!("device-{i}"))).collect();
        assert_eq!(names, expected, "every event once, in order");
        assert!(frames.iter().all(|f| f.event == "device.registered"));
    }

    let shared_reads = stream_reads(&app, "shared").await - shared;
    let own_reads = stream_reads(&app, "own").await - own;
    assert_eq!(
        own_reads, 0,
        "no stream read the log by itself once it had caught up"
    );
    // One per commit at most, and one per 3 s for the keys alone (a slow machine's run
    // may take some); one read per stream per commit would be 4,000.
    assert!(
        (1..=WRITES as u64 + 20).contains(&shared_reads),
        "{shared_reads} shared reads for {WRITES} writes"
    );
    drop(stalled);
}

#[tokio::test]
async fn a_filtered_stream_takes_from_the_shared_read_only_what_its_filter_asks() {
    let app = spawn_app_with(|_| {}).await;
    app.register_device("watched").await;
    app.register_device("other").await;
    let mut filtered = Stream::open_path(
        &app,
        app.secret_key(),
        "/api/v1/events/stream?type=device.updated&device_id=watched",
        None,
    )
    .await;
    let mut everything = Stream::open(&app, app.secret_key(), None).await;
    // Both have caught up by themselves (the two registrations are the whole log).
    until_own_reads(&app, 2).await;
    assert_eq!(everything.next(2).await.len(), 2);
    let own = stream_reads(&app, "own").await;

    for (device, value) in [("watched", "1"), ("other", "2"), ("watched", "3")] {
        app.patch_device(
            Some(app.secret_key()),
            device,
            json!({"labels": {"step": value}}),
        )
        .await;
    }
    app.register_device("late").await;
    app.patch_device(
        Some(app.secret_key()),
        "watched",
        json!({"labels": {"step": "4"}}),
    )
    .await;

    let all = everything.next(5).await;
    let kinds: Vec<_> = all.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "device.updated",
            "device.updated",
            "device.updated",
            "device.registered",
            "device.updated"
        ]
    );
    // Only the watched device's updates, with the seqs the log gave them.
    let mine = filtered.next(3).await;
    let expected: Vec<_> = [&all[0], &all[2], &all[4]]
        .iter()
        .map(|f| (f.id, f.event.clone()))
        .collect();
    assert_eq!(
        mine.iter()
            .map(|f| (f.id, f.event.clone()))
            .collect::<Vec<_>>(),
        expected
    );
    assert!(
        mine.iter()
            .all(|f| f.data["device_id"] == all[0].data["device_id"])
    );
    assert_eq!(
        stream_reads(&app, "own").await,
        own,
        "both streams took these events from the shared reads"
    );
}

/// `needle`'s first place in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Opens an event stream on a connection whose receive buffer is set small before it
/// connects (so the kernel does not grow it) and is read only when asked: a reader that
/// stalls, whose stream the server cannot write ahead of by more than its send buffer.
async fn open_stalled(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr: std::net::SocketAddr = app.server.url()["http://".len()..].parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /api/v1/events/stream HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
        app.secret_key()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Reads `n` events (id, data) from a stream [`open_stalled`] opened: its head (a 200,
/// chunked), then its chunks, then the Server-Sent Events in them.
async fn read_stalled(
    stream: &mut tokio::net::TcpStream,
    n: usize,
) -> Vec<(i64, serde_json::Value)> {
    use tokio::io::AsyncReadExt;
    let (mut raw, mut body, mut events) = (Vec::new(), Vec::new(), Vec::new());
    let mut head_read = false;
    let mut buf = vec![0u8; 1 << 16];
    while events.len() < n {
        let k = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("more of the stream within 30 s")
            .unwrap();
        assert!(k > 0, "the stream closed after {} events", events.len());
        raw.extend_from_slice(&buf[..k]);
        if !head_read {
            let Some(end) = find(&raw, b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(head.contains("transfer-encoding: chunked"), "{head}");
            raw.drain(..end + 4);
            head_read = true;
        }
        while let Some(line) = find(&raw, b"\r\n") {
            let size = std::str::from_utf8(&raw[..line]).unwrap().trim();
            let size = usize::from_str_radix(size, 16).unwrap();
            if raw.len() < line + 2 + size + 2 {
                break;
            }
            body.extend_from_slice(&raw[line + 2..line + 2 + size]);
            raw.drain(..line + 2 + size + 2);
        }
        while let Some(end) = find(&body, b"\n\n") {
            let block = String::from_utf8(body.drain(..end + 2).collect()).unwrap();
            let id = block.lines().find_map(|l| l.strip_prefix("id: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id.parse().unwrap(), serde_json::from_str(data).unwrap()));
            }
        }
    }
    events
}

#[tokio::test]
async fn a_stream_that_fell_behind_the_shared_reads_catches_up_by_itself_missing_nothing() {
    // More frames in one commit (11 MB) than the stalled reader's socket takes, so its
    // stream stops taking deliveries; then more of the hub's reads than it keeps for it.
    const BULK: i64 = 10_000;
    let app = spawn_app_with(|_| {}).await;
    let mut stream = open_stalled(&app).await;
    until_own_reads(&app, 1).await;
    let at = devreg::domain::Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let pad = "x".repeat(1000);
    app.server
        .db()
        .write_sync(|conn| {
            for i in 0..BULK {
                devreg::store::events::append(
                    conn,
                    &devreg::store::events::NewEvent {
                        org_id: "org_demo",
                        kind: "device.updated",
                        device_id: None,
                        at,
                        data: &json!({ "bulk": i, "pad": pad }),
                    },
                )?;
            }
            Ok::<_, devreg::store::StoreError>(())
        })
        .unwrap();
    // A reader from after the bulk, caught up (its first read is its own).
    let mut reading = Stream::open(&app, app.secret_key(), Some(BULK)).await;
    until_own_reads(&app, 2).await;
    let own = stream_reads(&app, "own").await;

    // 300 commits, each its own delivery: the next is made only once a reading stream
    // got the last (so the hub had published it). More than the hub keeps for a stream.
    let after = 300;
    for i in 0..after {
        app.register_device(&format!("after-{i}")).await;
        let got = reading.next(1).await;
        assert_eq!(
            got[0].data["data"]["device_id"],
            json!(format!("after-{i}"))
        );
    }

    // Now read it all: every event once, in seq order, the last the last registration.
    let events = read_stalled(&mut stream, BULK as usize + after).await;
    let ids: Vec<i64> = events.iter().map(|(id, _)| *id).collect();
    let expected: Vec<i64> = (1..=BULK + after as i64).collect();
    assert!(
        ids == expected,
        "the ids are not 1..={} in order",
        expected.len()
    );
    assert_eq!(
        events.last().unwrap().1["data"]["device_id"],
        json!(format!("after-{}", after - 1))
    );
    assert!(
        stream_reads(&app, "own").await > own,
        "the stream read what it missed by itself"
    );
}

#[tokio::test]
async fn a_revoked_keys_idle_stream_ends_within_seconds_while_another_org_keeps_the_hub_busy() {
    let app = spawn_app_with(|_| {}).await;
    let other = app.create_org("org_busy");
    let mut busy = Stream::open(&app, &other.secret_key, None).await;
    let key =
        devreg::admin::create_key(app.server.db(), "org_demo", devreg::domain::KeyKind::Secret)
            .unwrap();
    let mut idle = app
        .client
        .get(app.url("/api/v1/events/stream"))
        .bearer_auth(key.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(idle.status(), StatusCode::OK);
    until_own_reads(&app, 2).await;
    // A shared read after the idle stream joined: the hub has its org's position.
    app.register_device_with(&other.secret_key, json!({"device_id": "joined"}))
        .await;
    assert_eq!(busy.next(1).await[0].data["data"]["device_id"], "joined");
    // Revoked with no event in its org: only the hub's look at every key finds it.
    devreg::admin::revoke_key(app.server.db(), key.expose()).unwrap();

    // A commit in the other org about every 100 ms, each read by the hub, until the idle
    // stream has ended (or 10 s have passed).
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        let mut text = String::new();
        let mut n = 0;
        loop {
            tokio::select! {
                chunk = idle.chunk() => match chunk.unwrap_or(None) {
                    Some(chunk) => text.push_str(std::str::from_utf8(&chunk).unwrap()),
                    None => return text,
                },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    app.register_device_with(&other.secret_key, json!({"device_id": format!("busy-{n}")}))
                        .await;
                    assert_eq!(busy.next(1).await[0].data["data"]["device_id"], json!(format!("busy-{n}")));
                    n += 1;
                }
            }
        }
    })
    .await;
    let text =
        ended.expect("the revoked key's stream is still open after 10 s of another org's writes");
    assert!(!text.contains("id: "), "it delivered an event: {text}");
}
