//! `TestApp`: a devreg on a fresh database and typed helpers to call it.
//!
//! The database is in memory, or, when `DEVREG_TEST_DB` names a PostgreSQL server
//! (`postgres://…`, as `.ci/pg run` sets it), a new database of its own on that server
//! for each test: the same suite runs on both backends, not a copy of it.

use devreg::Config;
use devreg::testing::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct TestApp {
    pub server: TestServer,
    pub client: reqwest::Client,
    /// The PostgreSQL database made for this test, dropped with it.
    _database: Option<TestDatabase>,
}

/// A response, read whole: status, headers, and the body as JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the contract's error shape and code, and returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &str {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(self.body["error"], code, "body: {}", self.body);
        assert_eq!(self.body["status_code"], status, "body: {}", self.body);
        let request_id = self.header("x-request-id").expect("X-Request-Id header");
        assert_eq!(self.body["request_id"], request_id);
        let message = self.body["message"].as_str().expect("message is a string");
        assert!(!message.is_empty());
        message
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A registered device: its server id and its key.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub key: String,
}

/// A started training round: its server id and its number in the org.
#[derive(Debug, Clone)]
pub struct Round {
    pub id: String,
    pub number: i64,
}

/// What a heartbeat answer says about training rounds.
#[derive(Debug, PartialEq, Eq)]
pub struct Pending {
    pub round_id: Option<String>,
    pub message: Option<String>,
}

impl Pending {
    pub fn from_heartbeat(body: &Value) -> Pending {
        let text = |field: &str| {
            let value = &body[field];
            assert!(
                value.is_null() || value.is_string(),
                "{field} is a string or null: {body}"
            );
            value.as_str().map(str::to_owned)
        };
        Pending {
            round_id: text("pending_round_id"),
            message: text("message"),
        }
    }

    pub fn none() -> Pending {
        Pending {
            round_id: None,
            message: None,
        }
    }

    /// The answer that offers `round`.
    pub fn round(round: &Round) -> Pending {
        Pending {
            round_id: Some(round.id.clone()),
            message: Some(format!(
                "Training round {} is awaiting your participation.",
                round.number
            )),
        }
    }
}

/// Another org on the same server, with its keys.
pub struct Org {
    pub id: String,
    pub secret_key: String,
    pub publishable_key: String,
}

/// Asserts that `value`, an RFC 3339 time in the server's whole-second format, lies between
/// `earliest` and `latest`: the server's clock runs with wall time, so a time it wrote
/// during a step is known only to the seconds around that step.
#[track_caller]
pub fn assert_time_within(
    value: &Value,
    earliest: devreg::domain::Timestamp,
    latest: devreg::domain::Timestamp,
) {
    let (earliest, latest) = (earliest.to_rfc3339(), latest.to_rfc3339());
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a time"));
    assert!(
        earliest.as_str() <= text && text <= latest.as_str(),
        "{text} is not between {earliest} and {latest}"
    );
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(edit: impl FnOnce(&mut Config)) -> TestApp {
    // The server's errors (a 500's cause) in a failing test's output; RUST_LOG for more.
    let _ = env_logger::builder().is_test(true).try_init();
    let database = TestDatabase::create();
    let url = database.as_ref().map(|d| d.url.clone());
    let files = database.as_ref().map(|d| d.artifacts.path().to_owned());
    TestApp {
        server: TestServer::builder()
            .config(|config| {
                if let Some(url) = url {
                    config.db = url;
                }
                if let Some(files) = files {
                    config.artifacts = Some(files);
                }
                if let Some(bucket) = test_artifacts() {
                    config.artifacts = Some(bucket.into());
                }
                edit(config);
            })
            .start()
            .await,
        client: client(),
        _database: database,
    }
}

/// The suite's HTTP client. It lets an idle connection go after 2 s, before the server's
/// 5 s keep-alive does: a request sent on a connection the server is closing at that
/// moment fails with hyper's IncompleteMessage (seen after a long `write_sync` on
/// PostgreSQL left the pooled connection idle for about 5 s).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap()
}

/// The S3 store the suite's servers keep artifacts in, from `DEVREG_TEST_ARTIFACTS`
/// (`s3://BUCKET/PREFIX`, with the `AWS_*` variables set); `None` keeps them in a
/// temporary directory. Each server gets a prefix of its own under it (a fresh UUID), so
/// tests running at once in one bucket never see, count or reclaim each other's files,
/// exactly as each gets a directory of its own.
pub fn test_artifacts() -> Option<String> {
    let base = std::env::var("DEVREG_TEST_ARTIFACTS")
        .ok()
        .filter(|s| !s.is_empty())?;
    assert!(
        base.starts_with("s3://"),
        "DEVREG_TEST_ARTIFACTS is s3://BUCKET/PREFIX, got {base:?}"
    );
    Some(format!(
        "{}/{}",
        base.trim_end_matches('/'),
        uuid::Uuid::new_v4().simple()
    ))
}

/// The PostgreSQL server the suite runs against, from `DEVREG_TEST_DB`; `None` runs it
/// on SQLite.
pub fn test_postgres() -> Option<String> {
    std::env::var("DEVREG_TEST_DB")
        .ok()
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// The PostgreSQL server of a test that needs one (`#[ignore]`d, so a plain `cargo test`
/// lists it as ignored): panics, rather than passing, when `DEVREG_TEST_DB` is not set.
#[track_caller]
pub fn require_postgres() -> String {
    test_postgres().expect(
        "this test needs PostgreSQL: run it with DEVREG_TEST_DB set, as \
         `.ci/pg run cargo test --test api -- --include-ignored` does",
    )
}

/// A server on an in-memory SQLite database whatever `DEVREG_TEST_DB` says, for a test
/// about SQLite itself (its pragmas, its files): it runs, and checks, on both CI runs.
pub async fn spawn_sqlite_app_with(edit: impl FnOnce(&mut Config)) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    TestApp::over(
        TestServer::builder()
            .config(|config| {
                edit(config);
                assert_eq!(
                    config.db,
                    devreg::store::MEMORY,
                    "an in-memory SQLite database"
                );
            })
            .start()
            .await,
    )
}

/// A fresh database on the `DEVREG_TEST_DB` server for one test.
pub struct TestDatabase {
    /// The URL of the new database.
    pub url: String,
    admin: String,
    name: String,
    /// This test's own directory for hosted files (a server on PostgreSQL otherwise
    /// keeps them in `./devreg-artifacts`, which every test's server would share, and
    /// one server's sweep would reclaim files only another's database names).
    pub artifacts: tempfile::TempDir,
}

impl TestDatabase {
    /// `None` when the suite runs on SQLite.
    pub fn create() -> Option<TestDatabase> {
        let admin = test_postgres()?;
        let name = format!("devreg_test_{}", uuid::Uuid::new_v4().simple());
        let (base, _) = admin
            .rsplit_once('/')
            .expect("DEVREG_TEST_DB is postgres://USER@HOST:PORT/DATABASE");
        let url = format!("{base}/{name}");
        let statement = format!("CREATE DATABASE {name}");
        // The synchronous client runs a runtime of its own: not on the test's.
        let created = {
            let admin = admin.clone();
            std::thread::spawn(move || {
                let mut client = postgres::Client::connect(&admin, postgres::NoTls)?;
                client.batch_execute(&statement)
            })
            .join()
            .expect("the thread creating the test database")
        };
        if let Err(e) = created {
            panic!("cannot create a test database on DEVREG_TEST_DB={admin}: {e}");
        }
        Some(TestDatabase {
            url,
            admin,
            name,
            artifacts: tempfile::tempdir().unwrap(),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Best effort, off the test's runtime; the cluster is a throwaway one anyway.
        let _ = std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)?;
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        })
        .join();
    }
}

impl TestApp {
    /// A `TestApp` over a server started elsewhere (a second instance on one database).
    pub fn over(server: TestServer) -> TestApp {
        TestApp {
            server,
            client: client(),
            _database: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub fn secret_key(&self) -> &str {
        self.server.secret_key()
    }

    pub fn publishable_key(&self) -> &str {
        self.server.publishable_key()
    }

    /// Sends a request with an optional bearer key and an optional raw body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        read(request.send().await.expect("request failed")).await
    }

    /// `POST path` with an optional bearer key and a JSON body.
    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> Reply {
        self.send(Method::POST, path, key, Some(&body.to_string()))
            .await
    }

    /// `GET path` with an optional bearer key.
    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        self.send(Method::GET, path, key, None).await
    }

    pub async fn register(&self, key: Option<&str>, body: Value) -> Reply {
        self.send(
            Method::POST,
            "/api/v1/devices/register",
            key,
            Some(&body.to_string()),
        )
        .await
    }

    /// Registers `identifier` into the demo org with the secret key; panics unless 201.
    pub async fn register_device(&self, identifier: &str) -> Device {
        self.register_device_with(self.secret_key(), json!({ "device_id": identifier }))
            .await
    }

    pub async fn register_device_with(&self, key: &str, body: Value) -> Device {
        let reply = self.register(Some(key), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        Device {
            id: reply.body["id"].as_str().unwrap().to_owned(),
            key: reply.body["api_key"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn get_device(&self, key: Option<&str>, reference: &str) -> Reply {
        self.send(
            Method::GET,
            &format!("/api/v1/devices/{reference}"),
            key,
            None,
        )
        .await
    }

    pub async fn list(&self, key: Option<&str>, query: &str) -> Reply {
        self.send(Method::GET, &format!("/api/v1/devices?{query}"), key, None)
            .await
    }

    pub async fn heartbeat(
        &self,
        key: Option<&str>,
        reference: &str,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| b.to_string());
        self.send(
            Method::PUT,
            &format!("/api/v1/devices/{reference}/heartbeat"),
            key,
            body.as_deref(),
        )
        .await
    }

    /// `POST /api/v1/training/rounds` with `key` and `body`.
    pub async fn start_round(&self, key: Option<&str>, body: Value) -> Reply {
        self.send(
            Method::POST,
            "/api/v1/training/rounds",
            key,
            Some(&body.to_string()),
        )
        .await
    }

    /// Starts a round in the demo org with the secret key; panics unless 201.
    pub async fn start_round_ok(&self, body: Value) -> Round {
        self.start_round_in(self.secret_key(), body).await
    }

    /// Starts a round with `secret_key` (of whichever org); panics unless 201.
    pub async fn start_round_in(&self, secret_key: &str, body: Value) -> Round {
        let reply = self.start_round(Some(secret_key), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        Round {
            id: reply.body["id"].as_str().unwrap().to_owned(),
            number: reply.body["number"].as_i64().unwrap(),
        }
    }

    pub async fn list_rounds(&self, key: Option<&str>, query: &str) -> Reply {
        self.send(
            Method::GET,
            &format!("/api/v1/training/rounds?{query}"),
            key,
            None,
        )
        .await
    }

    pub async fn get_round(&self, key: Option<&str>, reference: &str) -> Reply {
        self.send(
            Method::GET,
            &format!("/api/v1/training/rounds/{reference}"),
            key,
            None,
        )
        .await
    }

    /// `POST /api/v1/training/rounds/{reference}/join` with an optional JSON body.
    pub async fn join_round(
        &self,
        key: Option<&str>,
        reference: &str,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|b| b.to_string());
        self.send(
            Method::POST,
            &format!("/api/v1/training/rounds/{reference}/join"),
            key,
            body.as_deref(),
        )
        .await
    }

    /// `POST /api/v1/training/rounds/{reference}/{action}`, `action` being `complete` or
    /// `cancel`.
    pub async fn end_round(&self, key: Option<&str>, reference: &str, action: &str) -> Reply {
        self.send(
            Method::POST,
            &format!("/api/v1/training/rounds/{reference}/{action}"),
            key,
            None,
        )
        .await
    }

    /// What an active heartbeat with the device's own key says is pending: the round id
    /// and the message, both `None` when nothing is.
    pub async fn pending_round(&self, device: &Device) -> Pending {
        let reply = self.heartbeat(Some(&device.key), &device.id, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        Pending::from_heartbeat(&reply.body)
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let reply = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        reply.text().await.unwrap()
    }

    /// How many rows `SELECT count(*) FROM {from}` finds in the server's database: what is
    /// stored, for the tests that check a row is kept or gone.
    pub fn count_rows(&self, from: &str) -> i64 {
        self.server
            .db()
            .read_sync(|conn| {
                conn.query_row(&format!("SELECT count(*) FROM {from}"), &[], |r| {
                    r.get::<i64>(0)
                })
            })
            .unwrap()
    }

    /// Creates another org on the same server, as `devreg org create` does.
    pub fn create_org(&self, name: &str) -> Org {
        let keys = devreg::admin::create_org(self.server.db(), name).expect("create org");
        Org {
            id: keys.org_id.to_string(),
            secret_key: keys.secret_key.expose().to_owned(),
            publishable_key: keys.publishable_key.expose().to_owned(),
        }
    }

    /// How many devices the demo org has, as its list's `total` says.
    pub async fn device_count(&self) -> u64 {
        let reply = self.list(Some(self.secret_key()), "org_id=org_demo").await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.body["total"].as_u64().unwrap()
    }
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {text:?}"));
    Reply {
        status,
        headers,
        body,
    }
}

/// The built `devreg serve` binary running as a child process on a file database.
pub struct ChildServer {
    pub child: std::process::Child,
    pub url: String,
}

/// A secret key preset for `org_demo`, the same at every start of a child server.
pub const CHILD_SECRET: &str = "edg_live_ChildServerSecretKey0123456789";

impl ChildServer {
    /// Starts `devreg serve` on `db` and returns once it listens.
    pub fn start(db: &str) -> ChildServer {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_devreg"))
            .args(["serve", "--bind", "127.0.0.1:0", "--db", db])
            .env("DEVREG_SECRET_KEY", CHILD_SECRET)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn devreg serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("devreg exited before listening")
                .expect("read stderr");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ChildServer { child, url }
    }

    /// Sends `signal` (such as "KILL" or "TERM") to the server.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
