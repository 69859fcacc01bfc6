//! Scaling out (issue 19): both backends reach the same schema version, and several
//! devreg instances on one PostgreSQL database behave as one: a raced registration gives
//! one 201, event `seq` stays strictly increasing per org, and one instance's event stream
//! carries what another wrote. The multi-instance tests need PostgreSQL
//! (`DEVREG_TEST_DB`); on SQLite they say so and return (a SQLite file has one server).

use devreg::testing::TestServer;
use reqwest::StatusCode;
use serde_json::json;

use crate::events::Stream;
use crate::helpers::{CHILD_SECRET, TestApp, TestDatabase, spawn_app_with, test_postgres};

/// The publishable key both instances are given, so either can be the second to start.
const PUBLISHABLE: &str = "oct_pub_live_ScalingTestPublishable0123456789";

/// Two instances on one new PostgreSQL database, `None` on SQLite (saying so).
async fn two_instances(what: &str) -> Option<(TestApp, TestApp)> {
    if test_postgres().is_none() {
        eprintln!("{what}: needs PostgreSQL (DEVREG_TEST_DB); a SQLite file has one server");
        return None;
    }
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
    Some((first, second))
}

#[tokio::test]
async fn both_backends_reach_the_same_schema_version() {
    let sqlite = devreg::store::Db::open(devreg::store::MEMORY, 1).unwrap();
    assert_eq!(
        sqlite.schema_version().unwrap(),
        devreg::store::SCHEMA_VERSION
    );
    let Some(database) = TestDatabase::create() else {
        eprintln!("the PostgreSQL half needs DEVREG_TEST_DB");
        return;
    };
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
async fn a_registration_raced_through_two_instances_gives_exactly_one_201() {
    let Some((first, second)) = two_instances("the registration race").await else {
        return;
    };
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
async fn event_seq_increases_strictly_per_org_across_instances() {
    let Some((first, second)) = two_instances("the event seq").await else {
        return;
    };
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
async fn one_instances_event_stream_carries_events_written_through_another() {
    let Some((first, second)) = two_instances("the cross-instance stream").await else {
        return;
    };
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
