//! Group commit on PostgreSQL: writes that queue while a transaction commits share the
//! next one (`devreg_database_commits_total` grows by fewer than
//! `devreg_database_writes_total`), a write that fails in a batch answers its own error
//! while the others commit, two instances whose writes deadlock answer the victim alone,
//! and a write acknowledged is committed: it survives a kill of the server. The tests need PostgreSQL (`DEVREG_TEST_DB`) and are `#[ignore]`d, so a
//! plain `cargo test` lists them as ignored; CI's PostgreSQL step runs them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::crash::{Acked, kill_under_load, verify};
use crate::helpers::{ChildServer, TestApp, TestDatabase, require_postgres, spawn_app};

/// The value of the counter `name` in the server's `/metrics`.
async fn counter(app: &TestApp, name: &str) -> u64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{name} is not in /metrics:\n{text}"))
        .parse()
        .unwrap()
}

/// Runs `sql` on a connection of its own to the test's database, off the test's runtime
/// (the synchronous client runs one of its own); returns the client, with whatever its
/// open transaction holds.
fn on_own_connection(url: &str, sql: &str) -> postgres::Client {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.batch_execute(&sql).unwrap();
        client
    })
    .join()
    .unwrap()
}

/// How many sessions of the database wait for a lock, right now.
fn lock_waiters(url: &str) -> i64 {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0)
    })
    .join()
    .unwrap()
}

/// Ends `client`'s transaction, off the test's runtime.
fn release(client: postgres::Client) {
    std::thread::spawn(move || {
        let mut client = client;
        client.batch_execute("COMMIT").unwrap();
    })
    .join()
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn registrations_queued_behind_a_commit_share_one_and_a_duplicate_fails_alone() {
    require_postgres();
    let app = spawn_app().await;
    let url = app.server.db_url().to_owned();
    // The org's event counter row exists once a device registered.
    app.register_device("first").await;
    let commits_before = counter(&app, "devreg_database_commits_total").await;
    let writes_before = counter(&app, "devreg_database_writes_total").await;

    // Another session holds the org's event counter, which every registration's event
    // takes: the writer stops at the first registration, and the rest queue behind it.
    let holder = on_own_connection(
        &url,
        "BEGIN; SELECT 1 FROM event_seqs WHERE org_id = 'org_demo' FOR UPDATE",
    );
    let blocked = {
        let app_url = app.url("/api/v1/devices/register");
        let key = app.secret_key().to_owned();
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(app_url)
                .bearer_auth(key)
                .json(&json!({"device_id": "blocked"}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock_waiters(&url) == 0 {
        assert!(Instant::now() < deadline, "the writer never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // 30 new devices and 10 identifiers already taken, all queued while the writer waits.
    let identifiers: Vec<String> = (0..40)
        .map(|i| match i % 4 {
            0 => "first".to_owned(),
            _ => format!("queued-{i}"),
        })
        .collect();
    let sends = identifiers
        .iter()
        .map(|identifier| app.register(Some(app.secret_key()), json!({"device_id": identifier})));
    let (replies, ()) = tokio::join!(futures::future::join_all(sends), async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        release(holder);
    });
    assert_eq!(blocked.await.unwrap(), StatusCode::CREATED);

    for (identifier, reply) in identifiers.iter().zip(&replies) {
        if identifier == "first" {
            reply.assert_error(409, "conflict");
        } else {
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "{identifier}: {}",
                reply.body
            );
            let key = reply.body["api_key"].as_str().unwrap();
            let stored = app.get_device(Some(key), identifier).await;
            assert_eq!(stored.status, StatusCode::OK, "{identifier} was not kept");
        }
    }
    assert_eq!(app.device_count().await, 32);
    let commits = counter(&app, "devreg_database_commits_total").await - commits_before;
    let writes = counter(&app, "devreg_database_writes_total").await - writes_before;
    // (Beside them, the server's own background work may write.)
    assert!(writes >= 31, "the 31 registrations answered 201: {writes}");
    assert!(
        commits <= 5,
        "{writes} writes, queued together, took {commits} commits"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn no_acknowledged_write_is_lost_when_a_server_on_postgresql_is_killed() {
    require_postgres();
    let database = TestDatabase::create().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut all: Vec<Acked> = Vec::new();

    // Kills at moments spread over the first 250 ms of load, as crash.rs does on SQLite.
    for (round, delay_ms) in [0, 40, 90, 160, 240].into_iter().enumerate() {
        let delay = Duration::from_millis(delay_ms);
        all.extend(kill_under_load(&client, &database.url, &format!("r{round}"), delay).await);
    }

    let last = ChildServer::start(&database.url);
    verify(&client, &last.url, &all).await;
    let beats = all.iter().filter(|a| a.last_heartbeat.is_some()).count();
    assert!(
        all.len() >= 5 && beats > 0,
        "{} registrations and {beats} heartbeats acknowledged: too few to check",
        all.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB): .ci/pg run cargo test --test api -- --include-ignored"]
async fn two_instances_whose_writes_deadlock_answer_the_victim_alone_and_commit_the_other() {
    require_postgres();
    let database = TestDatabase::create().unwrap();
    let url = database.url.clone();
    // Two instances' databases, each with its own writer.
    let (first, second) = std::thread::spawn(move || {
        let first = devreg::store::Db::open(&url, 1).unwrap();
        let second = devreg::store::Db::open(&url, 1).unwrap();
        first
            .write_sync(|tx| {
                tx.batch("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")?;
                tx.batch("INSERT INTO t VALUES (1, 0), (2, 0)")
            })
            .unwrap();
        (first, second)
    })
    .join()
    .unwrap();
    // Each locks one row, waits until the other has locked the other row, then wants it.
    let both_locked = Arc::new(std::sync::Barrier::new(2));
    let crosswise = |db: &devreg::store::Db, mine: i64, theirs: i64| {
        let (db, both_locked) = (db.clone(), both_locked.clone());
        async move {
            db.write(move |tx| {
                tx.execute("UPDATE t SET v = v + 1 WHERE id = ?1", &[&mine])?;
                both_locked.wait();
                tx.execute("UPDATE t SET v = v + 1 WHERE id = ?1", &[&theirs])?;
                Ok::<_, devreg::store::StoreError>(())
            })
            .await
        }
    };

    let (one, two) = tokio::join!(crosswise(&first, 1, 2), crosswise(&second, 2, 1));

    // PostgreSQL fails one of them (after deadlock_timeout): a 503 "busy" to its caller.
    let outcomes = [&one, &two];
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(devreg::store::StoreError::Busy(_)))),
        "{outcomes:?}"
    );
    // The winner's two updates are kept, nothing of the victim's; both writers go on.
    let values = first
        .write(|tx| tx.query_all("SELECT v FROM t ORDER BY id", &[], |r| r.get::<i64>(0)))
        .await
        .unwrap();
    assert_eq!(values, [1, 1]);
    second
        .write(|tx| tx.batch("UPDATE t SET v = v + 1"))
        .await
        .unwrap();
    std::thread::spawn(move || drop((first, second)))
        .join()
        .unwrap();
}
