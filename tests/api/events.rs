//! The event log: written with each change, listed, streamed as Server-Sent Events with
//! `Last-Event-ID` resume, bounded by retention, one org's never another's.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::redact;

/// One Server-Sent Event: its id, its type, its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// An open event stream and what has been read of it but not yet parsed.
pub struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    pub async fn open(app: &TestApp, key: &str, last_event_id: Option<i64>) -> Stream {
        Stream::open_path(app, key, "/api/v1/events/stream", last_event_id).await
    }

    /// [`Stream::open`] at `path`: the stream's path with a query.
    pub async fn open_path(
        app: &TestApp,
        key: &str,
        path: &str,
        last_event_id: Option<i64>,
    ) -> Stream {
        let mut request = app.client.get(app.url(path)).bearer_auth(key);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next `n` events, in the order sent (comments skipped). A bound on the wait,
    /// not a sleep: the events arrive as soon as they are committed.
    pub async fn next(&mut self, n: usize) -> Vec<Frame> {
        let mut frames = Vec::new();
        while frames.len() < n {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let (Some(id), Some(event), Some(data)) = (id, event, data) {
                    frames.push(Frame { id, event, data });
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream is open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        frames
    }
}

#[tokio::test]
async fn the_log_lists_every_change_in_order_filtered_by_type_and_device() {
    let app = spawn_app().await;
    let a = app.register_device("ev-a").await;
    let b = app.register_device("ev-b").await;
    app.patch_device(
        Some(app.secret_key()),
        "ev-a",
        json!({"labels": {"k": "v"}}),
    )
    .await;
    let round = app.start_round_ok(json!({})).await;
    app.join_round(Some(&a.key), &round.id, None).await;
    app.end_round(Some(app.secret_key()), &round.id, "complete")
        .await;
    let other_round = app.start_round_ok(json!({})).await;
    app.end_round(Some(app.secret_key()), &other_round.id, "cancel")
        .await;
    let rekeyed = app.rekey(Some(app.secret_key()), "ev-b").await;
    app.delete_device(Some(app.secret_key()), "ev-b").await;

    let all = app.events("").await;
    let new_key = rekeyed.body["api_key"].as_str().unwrap();
    insta::assert_json_snapshot!(all, {
        "[].device_id" => redact::known(&[(&a.id, "[ev-a]"), (&b.id, "[ev-b]")]),
        "[].at" => redact::time(),
        "[].data.round_id" => redact::known(&[(&round.id, "[round]"), (&other_round.id, "[other_round]")]),
        "[].data.key_id" => redact::prefixed("key_"),
        "[].data.key_prefix" => redact::is(&new_key[.."edg_dev_".len() + 6], "[the new key's first 14 characters]"),
    });

    let of_a = app.events(&format!("device_id={}", a.id)).await;
    assert_eq!(of_a.len(), 3, "{of_a:?}");
    let by_identifier = app.events("device_id=ev-a").await;
    assert_eq!(by_identifier, of_a);
    let registered = app.events("type=device.registered&after=1").await;
    assert_eq!(registered.len(), 1);
    let page = app
        .send(
            Method::GET,
            "/api/v1/events?limit=3",
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(page.body["next_after"], 3);
    for bad in [
        "type=device.exploded",
        "type=",
        "after=-1",
        "limit=0",
        "after=x",
    ] {
        app.send(
            Method::GET,
            &format!("/api/v1/events?{bad}"),
            Some(app.secret_key()),
            None,
        )
        .await
        .assert_error(400, "bad_request");
    }
    app.send(
        Method::GET,
        "/api/v1/events?device_id=nobody",
        Some(app.secret_key()),
        None,
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn the_stream_resumes_after_a_disconnect_missing_and_repeating_nothing_while_writes_go_on() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    for n in 0..3 {
        app.register_device(&format!("s-{n}")).await;
    }
    let mut stream = Stream::open(&app, app.secret_key(), None).await;
    let first = stream.next(3).await;
    assert_eq!(first.iter().map(|f| f.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(first.iter().all(|f| f.event == "device.registered"));
    assert_eq!(first[0].data["seq"], 1);

    // Writes go on, in this org and another, while the reader is connected and after
    // it hangs up mid-stream.
    let writer = {
        let url = app.server.url().to_owned();
        let (secret, other_secret) = (app.secret_key().to_owned(), other.secret_key.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in 3..40 {
                for (key, name) in [
                    (&secret, format!("s-{n}")),
                    (&other_secret, format!("o-{n}")),
                ] {
                    let reply = client
                        .post(format!("{url}/api/v1/devices/register"))
                        .bearer_auth(key)
                        .json(&json!({"device_id": name}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(reply.status(), StatusCode::CREATED);
                }
            }
        })
    };
    let more = stream.next(5).await;
    let last_seen = more.last().unwrap().id;
    drop(stream);

    let mut resumed = Stream::open(&app, app.secret_key(), Some(last_seen)).await;
    writer.await.unwrap();
    let rest = resumed.next(40 - 3 - 5).await;

    let ids: Vec<i64> = first
        .iter()
        .chain(&more)
        .chain(&rest)
        .map(|f| f.id)
        .collect();
    assert_eq!(
        ids,
        (1..=40).collect::<Vec<_>>(),
        "nothing skipped, nothing twice"
    );
    let names: Vec<&str> = first
        .iter()
        .chain(&more)
        .chain(&rest)
        .map(|f| f.data["data"]["device_id"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| n.starts_with("s-")),
        "only this org's: {names:?}"
    );
    assert!(rest.iter().all(|f| f.data["org_id"] == "org_demo"));
}

#[tokio::test]
async fn another_orgs_stream_sees_only_its_own_events() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    app.register_device("mine").await;
    let mut theirs = Stream::open(&app, &other.secret_key, None).await;
    app.register_device_with(&other.secret_key, json!({"device_id": "theirs"}))
        .await;
    let frames = theirs.next(1).await;
    assert_eq!(frames[0].data["org_id"], "org_other");
    assert_eq!(frames[0].data["data"]["device_id"], "theirs");
    assert_eq!(frames[0].id, 1, "each org's seq counts from 1");
    let naming_us = app
        .send(
            Method::GET,
            "/api/v1/events/stream?org_id=org_demo",
            Some(&other.secret_key),
            None,
        )
        .await;
    naming_us.assert_error(403, "forbidden");
}

#[tokio::test]
async fn reading_from_before_the_retained_log_is_410_saying_where_it_starts() {
    let app = spawn_app_with(|c| c.event_retention = 3600).await;
    app.register_device("r-1").await;
    app.register_device("r-2").await;
    app.advance(7200).await; // the sweep trims both events
    app.register_device("r-3").await;

    let gone = app
        .send(
            Method::GET,
            "/api/v1/events?after=0",
            Some(app.secret_key()),
            None,
        )
        .await;
    let message = gone.assert_error(410, "gone");
    assert!(message.contains("after seq 2"), "{message}");
    let stream = app
        .client
        .get(app.url("/api/v1/events/stream"))
        .bearer_auth(app.secret_key())
        .header("Last-Event-ID", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::GONE);
    let kept = app.events("after=2").await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["seq"], 3);
}
