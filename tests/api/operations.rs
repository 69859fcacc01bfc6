//! What an operator relies on: health, readiness, metrics, a full disk, backups, refusals
//! at start, and a clean stop.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{CHILD_SECRET, ChildServer, spawn_app, spawn_app_with, spawn_sqlite_app_with};

#[tokio::test]
async fn health_and_readiness_answer_without_a_key() {
    let app = spawn_app().await;

    let health = app.send(Method::GET, "/healthz", None, None).await;
    let ready = app.send(Method::GET, "/readyz", None, None).await;

    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(
        health.body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "ephemeral": true})
    );
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body, json!({"status": "ready"}));
}

#[tokio::test]
async fn health_says_a_server_on_a_database_file_is_not_ephemeral() {
    // The console asks for `/_devreg/clock` only where this says `true`.
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(dir.path().join("health.db").to_str().unwrap());

    let health: serde_json::Value = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(
        health,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "ephemeral": false})
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_never_name_a_device_or_key() {
    let app = spawn_app().await;
    let device = app.register_device("metric-device-1").await;
    app.heartbeat(Some(&device.key), &device.id, None).await;
    app.heartbeat(Some(&device.key), "metric-device-1", None)
        .await;
    app.send(Method::GET, "/no-such-route", None, None).await;

    let text = app.metrics().await;

    for line in [
        r#"devreg_http_requests_total{method="POST",route="/api/v1/devices/register",status="201"} 1"#,
        r#"devreg_http_requests_total{method="PUT",route="/api/v1/devices/{device_id}/heartbeat",status="200"} 2"#,
        r#"devreg_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        "devreg_registrations_total 1",
        "devreg_heartbeats_total 2",
        "devreg_devices 1",
        "devreg_database_errors_total 0",
        "devreg_rate_limited_total 0",
        "# TYPE devreg_database_errors_total counter",
        "# TYPE devreg_database_commits_total counter",
        "# TYPE devreg_devices gauge",
        &format!(
            r#"devreg_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(text.contains("devreg_http_request_duration_seconds_bucket{route=\"/api/v1/devices/register\",le=\"0.005\"}"));
    assert!(!text.contains("metric-device-1") && !text.contains(&device.id));
    assert!(!text.contains(&device.key) && !text.contains(app.secret_key()));
}

#[tokio::test]
async fn a_full_database_refuses_writes_with_503_keeps_reads_and_recovers() {
    // SQLite's PRAGMA max_page_count fills the database: on SQLite whatever DEVREG_TEST_DB
    // says. Big capabilities fill it quickly; the cap on them is not what is tested.
    let app = spawn_sqlite_app_with(|c| c.max_capabilities_bytes = 64 * 1024).await;
    let device = app.register_device("before-full").await;
    let db = app.server.db().clone();
    let pages: i64 = db
        .write_sync(|tx| tx.query_row("PRAGMA page_count", &[], |r| r.get(0)))
        .unwrap();
    db.write_sync(|tx| {
        tx.query_row(&format!("PRAGMA max_page_count = {pages}"), &[], |_| Ok(()))?;
        Ok::<_, devreg::store::StoreError>(())
    })
    .unwrap();
    let big = "x".repeat(60 * 1024);

    let refused = app
        .register(
            Some(app.secret_key()),
            json!({"device_id": "after-full", "capabilities": {"blob": big}}),
        )
        .await;
    let read = app.get_device(Some(&device.key), &device.id).await;

    let message = refused.assert_error(503, "service_unavailable");
    assert!(message.contains("out of space"), "{message}");
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(app.device_count().await, 1);

    db.write_sync(|tx| {
        tx.query_row("PRAGMA max_page_count = 1073741823", &[], |_| Ok(()))?;
        Ok::<_, devreg::store::StoreError>(())
    })
    .unwrap();
    let again = app
        .register(
            Some(app.secret_key()),
            json!({"device_id": "after-full", "capabilities": {"blob": big}}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "devreg_database_errors_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_backup_taken_under_write_load_is_consistent_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db").to_str().unwrap().to_owned();
    let out = dir.path().join("backup.db");
    let db_for_app = db.clone();
    let app = std::sync::Arc::new(
        spawn_app_with(move |c| {
            c.ephemeral = false;
            c.db = db_for_app;
        })
        .await,
    );
    let before = 50;
    for i in 0..before {
        app.register_device(&format!("pre-{i}")).await;
    }

    let (started, writing) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut started = Some(started);
            for i in 0..200 {
                app.register_device(&format!("during-{i}")).await;
                if let Some(started) = started.take() {
                    let _ = started.send(());
                }
            }
        })
    };
    // The backup starts once the writer's first registration is acknowledged: under load.
    writing
        .await
        .expect("the writer registers a device before the backup");
    let acknowledged = before + 1;
    let backup = tokio::task::spawn_blocking({
        let (db, out) = (db.clone(), out.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_devreg"))
                .args(["backup", out.to_str().unwrap(), "--db", &db])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    writer.await.unwrap();

    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    let copy = rusqlite::Connection::open(&out).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let devices: i64 = copy
        .query_row("SELECT count(*) FROM devices", [], |r| r.get(0))
        .unwrap();
    assert!(
        devices >= acknowledged,
        "the backup has {devices} devices, fewer than the {acknowledged} acknowledged before it"
    );
    let keys: i64 = copy
        .query_row(
            "SELECT count(*) FROM api_keys WHERE kind = 'device'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(keys, devices, "every device in the copy has its key");

    let again = Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(["backup", out.to_str().unwrap(), "--db", &db])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

/// Runs `devreg serve` on `db` and expects it to refuse, naming the file.
fn refuses_to_start(db: &std::path::Path, expected: &str) {
    let before = std::fs::read(db).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "devreg started on {}",
        db.display()
    );
    assert!(stderr.contains(db.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert_eq!(std::fs::read(db).unwrap(), before, "the file was changed");
}

#[test]
fn start_refuses_a_newer_schema_a_corrupt_file_and_a_foreign_database() {
    let dir = tempfile::tempdir().unwrap();

    let newer = dir.path().join("newer.db");
    devreg::store::Db::open(newer.to_str().unwrap(), 1)
        .unwrap()
        .checkpoint()
        .unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch("PRAGMA journal_mode = DELETE; PRAGMA user_version = 99;")
        .unwrap();
    refuses_to_start(&newer, "schema version 99 is newer");

    let corrupt = dir.path().join("corrupt.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 8192));
    std::fs::write(&corrupt, &bytes).unwrap();
    refuses_to_start(&corrupt, "not a readable SQLite database");

    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE invoices (id INTEGER);")
        .unwrap();
    refuses_to_start(&foreign, "not a devreg database");
}

#[test]
fn start_refuses_a_read_only_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    devreg::store::Db::open(path.to_str().unwrap(), 1)
        .unwrap()
        .checkpoint()
        .unwrap();
    std::fs::remove_file(dir.path().join("ro.db-wal")).ok();
    std::fs::remove_file(dir.path().join("ro.db-shm")).ok();
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&path, permissions).unwrap();
    let before = std::fs::read(&path).unwrap();

    // root may write any file, so run the server as nobody when the test runs as root.
    let mut command = if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_devreg"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_devreg"))
    };
    let mut open_dir = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut open_dir, 0o755);
    std::fs::set_permissions(dir.path(), open_dir).unwrap();
    let output = command
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--db",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(path.to_str().unwrap()) && stderr.contains("read-only"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

#[tokio::test]
async fn sigterm_finishes_cleanly_and_leaves_the_whole_database_in_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let mut server = ChildServer::start(db.to_str().unwrap());
    let client = reqwest::Client::new();
    let reply = client
        .post(format!("{}/api/v1/devices/register", server.url))
        .bearer_auth(CHILD_SECRET)
        .body(r#"{"device_id": "term-1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);

    server.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "devreg did not exit within 15 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    assert!(status.success(), "exit status {status}");
    let wal = std::fs::metadata(dir.path().join("term.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(wal, 0, "the WAL was checkpointed into the file");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM devices WHERE identifier = 'term-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}
