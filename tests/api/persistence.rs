//! A file database keeps what was acknowledged across a restart.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

/// A server on the database file at `path`, with fixed org keys, to start again on it.
fn file_server(path: &std::path::Path) -> impl FnOnce(&mut devreg::Config) + Clone + use<> {
    let db = path.to_str().unwrap().to_owned();
    let secret = format!("edg_live_{}", "S3cr3t".repeat(5));
    move |c: &mut devreg::Config| {
        c.ephemeral = false;
        c.db = db.clone();
        c.secret_key = Some(secret.clone());
        c.publishable_key = Some(format!("oct_pub_live_{}", "Publ1c".repeat(5)));
    }
}

#[tokio::test]
async fn a_device_registered_before_a_restart_is_there_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("devreg.db").to_str().unwrap().to_owned();
    let secret = format!("edg_live_{}", "S3cr3t".repeat(5));
    let publishable = format!("oct_pub_live_{}", "Publ1c".repeat(5));
    let config = move |c: &mut devreg::Config| {
        c.ephemeral = false;
        c.db = db.clone();
        c.secret_key = Some(secret.clone());
        c.publishable_key = Some(publishable.clone());
    };

    let first = crate::helpers::spawn_app_with(config.clone()).await;
    let device = first
        .register_device_with(
            first.secret_key(),
            json!({"device_id": "durable-1", "capabilities": {"gpu": true}}),
        )
        .await;
    first
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"metrics": {"n": 1}})),
        )
        .await;
    let TestApp { server, .. } = first;
    server.stop().await;

    let second = crate::helpers::spawn_app_with(config).await;
    let reply = second.get_device(Some(&device.key), "durable-1").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["id"], device.id.as_str());
    assert_eq!(reply.body["capabilities"], json!({"gpu": true}));
    assert_eq!(reply.body["metrics"], json!({"n": 1}));
    let listed = second
        .list(Some(second.secret_key()), "org_id=org_demo")
        .await;
    assert_eq!(listed.body["total"], 1);
}

#[tokio::test]
async fn keys_are_stored_only_as_digests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devreg.db");
    let db = path.to_str().unwrap().to_owned();
    let app = crate::helpers::spawn_app_with(move |c| {
        c.ephemeral = false;
        c.db = db;
    })
    .await;
    let device = app.register_device("hashed-1").await;
    let (secret, publishable) = (
        app.secret_key().to_owned(),
        app.publishable_key().to_owned(),
    );
    app.server.stop().await;

    let mut bytes = std::fs::read(&path).unwrap();
    for suffix in ["-wal", "-shm"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", path.display())) {
            bytes.extend(more);
        }
    }
    let text = String::from_utf8_lossy(&bytes);

    assert!(text.contains("hashed-1"), "the database files were read");
    for key in [&device.key, &secret, &publishable] {
        assert!(
            !text.contains(key.as_str()),
            "a key is stored in plain text"
        );
        // The display prefix (kind and six characters) is all that is kept in the clear.
        assert!(!text.contains(&key[..key.len() - 4]));
    }
}

#[tokio::test]
async fn a_version_1_database_is_counted_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devreg.db");
    let config = file_server(&path);
    let first = crate::helpers::spawn_app_with(config.clone()).await;
    for (name, platform) in [("v1-a", "ios"), ("v1-b", "ios"), ("v1-c", "android")] {
        first
            .register_device_with(
                first.secret_key(),
                json!({"device_id": name, "platform": platform}),
            )
            .await;
    }
    first.server.stop().await;
    // What a version-1 database is: the same tables, no counts.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP TRIGGER devices_count_insert; DROP TRIGGER devices_count_delete;
             DROP TRIGGER devices_count_update; DROP TABLE device_counts;
             PRAGMA user_version = 1;",
        )
        .unwrap();

    let second = crate::helpers::spawn_app_with(config).await;
    let all = second
        .list(Some(second.secret_key()), "org_id=org_demo")
        .await;
    let ios = second
        .list(Some(second.secret_key()), "org_id=org_demo&platform=ios")
        .await;
    second.register_device("after-upgrade").await;
    let after = second
        .list(Some(second.secret_key()), "org_id=org_demo")
        .await;

    assert_eq!(all.body["total"], 3, "{}", all.body);
    assert_eq!(ios.body["total"], 2, "{}", ios.body);
    assert_eq!(after.body["total"], 4, "{}", after.body);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, devreg::store::SCHEMA_VERSION);
}

#[tokio::test]
async fn a_version_2_database_gets_its_label_counts_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devreg.db");
    let config = file_server(&path);
    let first = crate::helpers::spawn_app_with(config.clone()).await;
    for (name, labels) in [
        ("v2-a", json!({"env": "prod", "ring": "r1"})),
        ("v2-b", json!({"env": "prod"})),
        ("v2-c", json!({"env": "dev", "ring": "r1"})),
    ] {
        first
            .register_device_with(
                first.secret_key(),
                json!({"device_id": name, "platform": "ios", "labels": labels}),
            )
            .await;
    }
    first.server.stop().await;
    // What a version-2 database is: the same tables, no label counts.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP TRIGGER device_labels_count_insert; DROP TRIGGER device_labels_count_delete;
             DROP TRIGGER device_labels_count_update; DROP TABLE label_counts;
             DROP TABLE label_key_counts; PRAGMA user_version = 2;",
        )
        .unwrap();

    let second = crate::helpers::spawn_app_with(config).await;
    let key = Some(second.secret_key());
    let prod = second.list(key, "org_id=org_demo&label=env:prod").await;
    let ring = second.list(key, "org_id=org_demo&label=ring").await;
    assert_eq!(prod.body["total"], 2, "{}", prod.body);
    assert_eq!(ring.body["total"], 2, "{}", ring.body);
    second
        .register_device_with(
            second.secret_key(),
            json!({"device_id": "after-upgrade", "labels": {"env": "prod"}}),
        )
        .await;
    let after = second.list(key, "org_id=org_demo&label=env:prod").await;
    assert_eq!(after.body["total"], 3, "{}", after.body);
}
