//! Scaling out: both backends reach the same schema version, and several
//! devreg instances on one PostgreSQL database behave as one: a raced registration gives
//! one 201, event `seq` stays strictly increasing per org, and one instance's event stream
//! carries what another wrote. The tests that need PostgreSQL (`DEVREG_TEST_DB`) are
//! `#[ignore]`d, so a plain `cargo test` lists them as ignored, and CI's PostgreSQL step
//! runs them with `--include-ignored`; run without `DEVREG_TEST_DB` they fail.

use devreg::testing::TestServer;
use reqwest::StatusCode;
use serde_json::json;

use crate::events::Stream;
use crate::helpers::{CHILD_SECRET, TestApp, TestDatabase, require_postgres, spawn_app_with};

/// The publishable key both instances are given, so either can be the second to start.
const PUBLISHABLE: &str = "oct_pub_live_ScalingTestPublishable0123456789";

/// Two instances on one new PostgreSQL database (a SQLite file has one server).
async fn two_instances() -> (TestApp, TestApp) {
    require_postgres();
    let preset = |c: &mut devreg::Config| {
        c.secret_key = Some(CHILD_SECRET.to_owned());
        c.publishable_key = Some(PUBLISHABLE.to_owned());
    };
    let first = spawn_app_with(preset).await;
    let url = first.server.db_url().to_owned();
    let second = TestApp::over(
        TestServer::builder()
            .config(|c| {
                c.db = url;
                preset(c);
            })
            .start()
            .await,
    );
    (first, second)
}

#[tokio::test]
async fn sqlite_reaches_the_schema_version() {
    let sqlite = devreg::store::Db::open(devreg::store::MEMORY, 1).unwrap();
    assert_eq!(
        sqlite.schema_version().unwrap(),
        devreg::store::SCHEMA_VERSION
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn postgresql_reaches_the_same_schema_version() {
    require_postgres();
    let database = TestDatabase::create().unwrap();
    for _ in 0..2 {
        // Opening twice applies the schema twice: it is idempotent.
        let postgres = devreg::store::Db::open(&database.url, 1).unwrap();
        assert_eq!(
            postgres.schema_version().unwrap(),
            devreg::store::SCHEMA_VERSION
        );
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn a_registration_raced_through_two_instances_gives_exactly_one_201() {
    let (first, second) = two_instances().await;
    let body = json!({"device_id": "raced-001"});
    let sends = (0..20).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.register(Some(CHILD_SECRET), body.clone())
    });
    let replies = futures::future::join_all(sends).await;

    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let conflicts = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 19), "{replies:?}");
    assert_eq!(second.device_count().await, 1);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn event_seq_increases_strictly_per_org_across_instances() {
    let (first, second) = two_instances().await;
    let sends = (0..30).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.register(
            Some(CHILD_SECRET),
            json!({"device_id": format!("seq-{i:03}")}),
        )
    });
    for reply in futures::future::join_all(sends).await {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    let page = first
        .send(
            reqwest::Method::GET,
            "/api/v1/events?org_id=org_demo&limit=1000",
            Some(CHILD_SECRET),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let seqs: Vec<i64> = page.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>(), "no gap, no repeat");
}

#[tokio::test]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn one_instances_event_stream_carries_events_written_through_another() {
    let (first, second) = two_instances().await;
    let mut stream = Stream::open(&first, CHILD_SECRET, None).await;

    second
        .register(
            Some(CHILD_SECRET),
            json!({"device_id": "from-the-other-one"}),
        )
        .await;

    let frames = stream.next(1).await;
    assert_eq!(frames[0].event, "device.registered");
    assert_eq!(frames[0].data["data"]["device_id"], "from-the-other-one");
}

/// A PostgreSQL cluster of the test's own (`.ci/pg` in a temporary directory), which the
/// test stops and starts again on the same port.
struct OwnCluster {
    dir: tempfile::TempDir,
}

impl OwnCluster {
    fn script(&self, action: &str) -> String {
        pg_script(self.dir.path(), action)
    }
}

/// Runs `.ci/pg action dir` and returns what it printed; panics if it fails.
fn pg_script(dir: &std::path::Path, action: &str) -> String {
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/pg"))
        .arg(action)
        .arg(dir)
        .output()
        .expect("run .ci/pg");
    assert!(
        out.status.success(),
        ".ci/pg {action} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/pg"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn a_lost_database_is_503_and_readyz_says_so_until_it_is_back_and_then_all_is_200() {
    require_postgres();
    let cluster = OwnCluster {
        dir: tempfile::tempdir().unwrap(),
    };
    // The cluster's owner (not root) must be able to enter the directory.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(cluster.dir.path(), std::fs::Permissions::from_mode(0o777))
            .unwrap();
    }
    let url = cluster.script("start");
    let app = spawn_app_with(|c| c.db = url.clone()).await;
    let device = app.register_device("through-the-outage").await;
    let heartbeat = || app.heartbeat(Some(&device.key), &device.id, None);
    assert_eq!(heartbeat().await.status, StatusCode::OK);

    // Heartbeats keep coming while the database goes away: each is a 200 (committed) or
    // a 503 (not), never anything else, and never a hang. The stop starts once a heartbeat
    // of the load has been answered 200, and runs off this task so the load goes on
    // during it; the load ends a few heartbeats after the stop has finished.
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let (answered, first_answer) = tokio::sync::oneshot::channel::<()>();
    let load = async {
        let mut answered = Some(answered);
        let mut seen = Vec::new();
        let mut after_stop = 0;
        while after_stop < 5 {
            if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                after_stop += 1;
            }
            let reply = tokio::time::timeout(std::time::Duration::from_secs(10), heartbeat())
                .await
                .expect("an answer within 10 s while the database is down");
            if reply.status == StatusCode::OK
                && let Some(answered) = answered.take()
            {
                let _ = answered.send(());
            }
            seen.push(reply.status.as_u16());
        }
        seen
    };
    let stop = async {
        first_answer
            .await
            .expect("a heartbeat is answered 200 before the stop");
        let dir = cluster.dir.path().to_owned();
        tokio::task::spawn_blocking(move || pg_script(&dir, "stop"))
            .await
            .unwrap();
        stopped.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (seen, _) = tokio::join!(load, stop);
    assert!(seen.iter().all(|s| *s == 200 || *s == 503), "{seen:?}");

    let down = heartbeat().await;
    down.assert_error(503, "service_unavailable");
    app.server.advance_clock(1);
    let ready = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.body
    );

    tokio::task::block_in_place(|| cluster.script("start"));
    let mut back = None;
    for _ in 0..100 {
        let reply = heartbeat().await;
        if reply.status == StatusCode::OK {
            back = Some(reply);
            break;
        }
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        back.is_some(),
        "the heartbeat recovers within 10 s of the database"
    );
    app.server.advance_clock(1);
    let ready = app.send(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(
        app.device_count().await,
        1,
        "what was committed before is there"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn migrate_copies_a_seeded_sqlite_database_and_the_api_works_on_the_copy() {
    require_postgres();
    let target = TestDatabase::create().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("devreg.db");
    let file_path = file.to_str().unwrap().to_owned();
    // Seed a file database through the API: devices with labels and heartbeats, a
    // re-key, a round with a participant, events of every kind these make.
    let (device, rekeyed, round_id) = {
        let source = TestApp::over(
            TestServer::builder()
                .config(|c| {
                    c.ephemeral = false;
                    c.db = file_path.clone();
                    c.secret_key = Some(CHILD_SECRET.to_owned());
                    c.publishable_key = Some(PUBLISHABLE.to_owned());
                })
                .start()
                .await,
        );
        let device = source
            .register_device_with(
                CHILD_SECRET,
                json!({"device_id": "kept-001", "platform": "ios", "labels": {"ring": "beta"}}),
            )
            .await;
        for i in 0..5 {
            source.register_device(&format!("more-{i}")).await;
        }
        let beat = source
            .heartbeat(
                Some(&device.key),
                &device.id,
                Some(json!({"metrics": {"battery_pct": 40}})),
            )
            .await;
        assert_eq!(beat.status, StatusCode::OK);
        let other = source.register_device("rekeyed").await;
        let rekey = source
            .send(
                reqwest::Method::POST,
                &format!("/api/v1/devices/{}/keys", other.id),
                Some(CHILD_SECRET),
                None,
            )
            .await;
        assert_eq!(rekey.status, StatusCode::CREATED, "{}", rekey.body);
        let rekeyed = crate::helpers::Device {
            id: other.id,
            key: rekey.body["api_key"].as_str().unwrap().to_owned(),
        };
        let round = source.start_round_ok(json!({"platforms": ["ios"]})).await;
        let joined = source.join_round(Some(&device.key), &round.id, None).await;
        assert!(joined.status.is_success(), "{}", joined.body);
        source.server.db().checkpoint().unwrap();
        (device, rekeyed, round.id)
    };

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(["migrate", "--from", &file_path, "--to", &target.url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("  devices: 7 rows"), "{stdout}");
    assert!(stdout.contains("every count verified"), "{stdout}");

    // A second run refuses: the target is not empty any more.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(["migrate", "--from", &file_path, "--to", &target.url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

    // The API on the copy: the same keys (digests were copied), devices, labels, rounds
    // and events, and new writes continue the sequences.
    let copy = TestApp::over(
        TestServer::builder()
            .config(|c| {
                c.db = target.url.clone();
                c.secret_key = Some(CHILD_SECRET.to_owned());
                c.publishable_key = Some(PUBLISHABLE.to_owned());
            })
            .start()
            .await,
    );
    let got = copy.get_device(Some(&device.key), &device.id).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(got.body["labels"], json!({"ring": "beta"}));
    assert_eq!(got.body["metrics"]["battery_pct"], 40);
    let by_new_key = copy.get_device(Some(&rekeyed.key), &rekeyed.id).await;
    assert_eq!(by_new_key.status, StatusCode::OK, "{}", by_new_key.body);
    assert_eq!(copy.device_count().await, 7);
    let labelled = copy
        .list(Some(CHILD_SECRET), "org_id=org_demo&label=ring:beta")
        .await;
    assert_eq!(labelled.body["total"], 1, "{}", labelled.body);
    let round = copy.get_round(Some(CHILD_SECRET), &round_id).await;
    assert_eq!(round.body["participant_count"], 1, "{}", round.body);
    let events = copy
        .send(
            reqwest::Method::GET,
            "/api/v1/events?org_id=org_demo&limit=1000",
            Some(CHILD_SECRET),
            None,
        )
        .await;
    let before = events.body["events"].as_array().unwrap().len() as i64;
    assert!(before >= 10, "{}", events.body);
    copy.register_device("after-the-move").await;
    let last = copy
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/events?org_id=org_demo&after={before}"),
            Some(CHILD_SECRET),
            None,
        )
        .await;
    assert_eq!(last.body["events"][0]["seq"], before + 1, "{}", last.body);
    assert_eq!(copy.device_count().await, 8);
}

#[tokio::test]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn one_instance_leads_the_periodic_sweep_and_a_transition_is_announced_once() {
    let (first, second) = two_instances().await;
    let (a, b) = (first.server.db(), second.server.db());
    assert!(
        a.lead("test-lease", "a".to_owned(), 60).await,
        "a free lease is taken"
    );
    assert!(
        !b.lead("test-lease", "b".to_owned(), 60).await,
        "held by another: no"
    );
    assert!(
        a.lead("test-lease", "a".to_owned(), 60).await,
        "its holder renews it"
    );

    // Both instances sweep at once (as test control may ask either): the device that
    // went quiet is announced stale once, not once per instance.
    let device = first.register_device("goes-quiet").await;
    let beat = first.heartbeat(Some(&device.key), &device.id, None).await;
    assert_eq!(beat.status, StatusCode::OK);
    // Past 2 heartbeat intervals (stale), not 10 (offline), on both clocks.
    first.server.advance_clock(200);
    second.server.advance_clock(200);
    let (one, two) = tokio::join!(first.server.sweep(), second.server.sweep());
    assert_eq!(one.announced + two.announced, 1, "{one:?} {two:?}");
    let events = first
        .send(
            reqwest::Method::GET,
            "/api/v1/events?org_id=org_demo&type=device.connectivity_changed",
            Some(CHILD_SECRET),
            None,
        )
        .await;
    let to: Vec<&str> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["to"].as_str().unwrap())
        .collect();
    // offline → online at the heartbeat, then online → stale once.
    assert_eq!(to, ["online", "stale"], "{}", events.body);
}
