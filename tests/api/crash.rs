//! Crash safety: SIGKILL the server at random moments under concurrent registrations and
//! heartbeats; after each restart every acknowledged write must be there.
//!
//! `DEVREG_CRASH_ROUNDS` sets the number of kills (default 20, as CI runs it; the long run
//! in docs/operations.md uses 200). `DEVREG_CRASH_SEED` replays a run; the seed is printed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::{CHILD_SECRET, ChildServer};

/// A write the server acknowledged: the device and, if a heartbeat was acknowledged, the
/// latest `last_heartbeat` it was told.
#[derive(Debug, Clone)]
pub(crate) struct Acked {
    identifier: String,
    key: String,
    pub(crate) last_heartbeat: Option<String>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Registers and heartbeats devices until the server stops answering, recording each
/// acknowledgement; `first_ack` is told of the first registration acknowledged.
async fn drive(
    client: reqwest::Client,
    url: String,
    tag: String,
    acked: Arc<Mutex<Vec<Acked>>>,
    first_ack: Arc<Notify>,
) {
    for i in 0.. {
        let identifier = format!("{tag}-{i}");
        let Ok(response) = client
            .post(format!("{url}/api/v1/devices/register"))
            .bearer_auth(CHILD_SECRET)
            .json(&json!({"device_id": identifier}))
            .send()
            .await
        else {
            return;
        };
        if response.status() != StatusCode::CREATED {
            return;
        }
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let key = body["api_key"].as_str().unwrap().to_owned();
        let index = {
            let mut acked = acked.lock().unwrap();
            acked.push(Acked {
                identifier: identifier.clone(),
                key: key.clone(),
                last_heartbeat: None,
            });
            acked.len() - 1
        };
        first_ack.notify_one();
        for _ in 0..3 {
            let Ok(response) = client
                .put(format!("{url}/api/v1/devices/{identifier}/heartbeat"))
                .bearer_auth(&key)
                .json(&json!({"metrics": {"i": i}}))
                .send()
                .await
            else {
                return;
            };
            if response.status() != StatusCode::OK {
                return;
            }
            let Ok(body) = response.json::<Value>().await else {
                return;
            };
            acked.lock().unwrap()[index].last_heartbeat =
                body["last_heartbeat"].as_str().map(str::to_owned);
        }
    }
}

/// Checks every acknowledged write against a running server.
pub(crate) async fn verify(client: &reqwest::Client, url: &str, acked: &[Acked]) {
    for write in acked {
        let response = client
            .get(format!("{url}/api/v1/devices/{}", write.identifier))
            .bearer_auth(&write.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "acknowledged device {} is lost or its key fails",
            write.identifier
        );
        let body: Value = response.json().await.unwrap();
        if let Some(acked_beat) = &write.last_heartbeat {
            let stored = body["last_heartbeat"]
                .as_str()
                .unwrap_or_else(|| panic!("{} lost its heartbeat", write.identifier));
            // RFC 3339 UTC with whole seconds orders as text.
            assert!(
                stored >= acked_beat.as_str(),
                "{}: stored {stored} < acknowledged {acked_beat}",
                write.identifier
            );
        }
    }
}

/// One round: starts a server on `db`, drives registrations and heartbeats at it from 8
/// workers (ids prefixed `round`), kills it (SIGKILL) `delay` after the first
/// acknowledgement, restarts it and checks every acknowledged write is there. Returns them.
pub(crate) async fn kill_under_load(
    client: &reqwest::Client,
    db: &str,
    round: &str,
    delay: Duration,
) -> Vec<Acked> {
    let server = ChildServer::start(db);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let first_ack = Arc::new(Notify::new());
    let workers: Vec<_> = (0..8)
        .map(|w| {
            tokio::spawn(drive(
                client.clone(),
                server.url.clone(),
                format!("{round}w{w}"),
                acked.clone(),
                first_ack.clone(),
            ))
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(10), first_ack.notified())
        .await
        .expect("a registration is acknowledged within 10 s of the start");
    tokio::time::sleep(delay).await;
    server.signal("KILL");
    for worker in workers {
        worker.await.unwrap();
    }
    drop(server);

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let restarted = ChildServer::start(db);
    verify(client, &restarted.url, &acked).await;
    acked
}

#[tokio::test]
async fn no_acknowledged_write_is_lost_when_the_server_is_killed() {
    let rounds: usize = match std::env::var("DEVREG_CRASH_ROUNDS") {
        Err(_) => 20,
        Ok(v) => match v.parse() {
            // No kill would check nothing: 0 is refused, not a pass.
            Ok(0) => panic!("DEVREG_CRASH_ROUNDS=0 kills nothing; give 1 or more (default 20)"),
            Ok(n) => n,
            Err(e) => panic!("DEVREG_CRASH_ROUNDS={v:?} is not a number of rounds: {e}"),
        },
    };
    let seed: u64 = std::env::var("DEVREG_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: {rounds} rounds, DEVREG_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db").to_str().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut all: Vec<Acked> = Vec::new();

    for round in 0..rounds {
        // Under load: once a write is acknowledged, then at a random moment within 250 ms.
        let delay = Duration::from_millis(rng.next() % 250);
        all.extend(kill_under_load(&client, &db, &format!("r{round}"), delay).await);
    }

    let last = ChildServer::start(&db);
    verify(&client, &last.url, &all).await;
    last.signal("TERM");
    drop(last);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    eprintln!(
        "crash test: {rounds} kills, {} acknowledged registrations and {} acknowledged heartbeats verified",
        all.len(),
        all.iter().filter(|a| a.last_heartbeat.is_some()).count()
    );
    assert!(
        all.len() >= rounds,
        "the load was too light to test anything"
    );
}
