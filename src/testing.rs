//! A complete devreg inside a test process: its own in-memory database, a free loopback
//! port, an org with its keys. What this repo's tests start, and what other crates'
//! tests can start too: each server is isolated from every other, starts in a few
//! milliseconds, and hundreds can run at once in one process.
//!
//! ```
//! use devreg::testing::TestServer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = TestServer::start().await;
//! let device = server.register_device("laptop-001").await;
//!
//! let reply = reqwest::Client::new()
//!     .put(format!("{}/api/v1/devices/{}/heartbeat", server.url(), device.id))
//!     .bearer_auth(&device.api_key)
//!     .json(&serde_json::json!({ "metrics": { "battery_pct": 80 } }))
//!     .send()
//!     .await
//!     .unwrap();
//! assert_eq!(reply.status(), 200);
//!
//! // The org's keys are ready too.
//! let list = reqwest::Client::new()
//!     .get(format!("{}/api/v1/devices?org_id={}", server.url(), server.org_id()))
//!     .bearer_auth(server.secret_key())
//!     .send()
//!     .await
//!     .unwrap();
//! assert_eq!(list.status(), 200);
//! // Dropping `server` stops it.
//! # }
//! ```
//!
//! A server with other settings: `TestServer::builder().config(|c| c.open_registration =
//! false).start().await`.

use crate::app::Server;
use std::sync::Arc;

use crate::clock::{Clock, RateLimitClock};
use crate::config::Config;
use crate::domain::{ApiKey, DeviceIdentifier, KeyKind, Platform, Timestamp};
use crate::journal::{Journal, JournalEntry};
use crate::store::{Db, devices};

/// A running server; dropping it stops the server.
pub struct TestServer {
    url: String,
    org_id: String,
    secret_key: String,
    publishable_key: String,
    db: Db,
    /// The database it runs on, as `Config::db` gave it.
    db_url: String,
    clock: Clock,
    rate_limit_clock: RateLimitClock,
    journal: Option<Arc<Journal>>,
    sweeper: crate::sweep::Sweeper,
    handle: actix_web::dev::ServerHandle,
}

/// A device [`TestServer::register_device`] registered: its server id, its identifier and
/// its key.
#[derive(Debug, Clone)]
pub struct TestDevice {
    /// The server-generated UUID, what the SDKs put in paths.
    pub id: String,
    /// The identifier it was registered with.
    pub device_id: String,
    /// Its device key (`edg_dev_…`), for `Authorization: Bearer`.
    pub api_key: String,
}

/// Sets the config of a [`TestServer`] before it starts.
pub struct TestServerBuilder {
    config: Config,
}

impl TestServerBuilder {
    /// Changes the config; it starts as [`Config::ephemeral`].
    pub fn config(mut self, edit: impl FnOnce(&mut Config)) -> Self {
        edit(&mut self.config);
        self
    }

    /// Starts the server. Panics when it cannot (a test has nothing better to do).
    /// Must be called inside a tokio or actix runtime.
    pub async fn start(self) -> TestServer {
        let server = Server::build(&self.config).expect("devreg test server failed to start");
        // On an empty database first start made the keys; on a reused file database the
        // config's preset keys are the ones a test knows.
        let created = server.bootstrap().created.as_ref();
        let known = |made: Option<&crate::domain::ApiKey>, preset: &Option<String>| {
            made.map(|k| k.expose().to_owned())
                .or_else(|| preset.clone())
                .expect("a TestServer over an existing database needs preset secret and publishable keys")
        };
        let test_server = TestServer {
            url: format!("http://{}", server.addr()),
            org_id: crate::domain::OrgId::demo().to_string(),
            secret_key: known(created.map(|k| &k.secret_key), &self.config.secret_key),
            publishable_key: known(
                created.map(|k| &k.publishable_key),
                &self.config.publishable_key,
            ),
            db: server.db().clone(),
            db_url: self.config.db.clone(),
            clock: self.config.clock.clone(),
            rate_limit_clock: self.config.rate_limit_clock.clone(),
            journal: server.journal().cloned(),
            sweeper: server.sweeper().clone(),
            handle: server.handle(),
        };
        tokio::spawn(server.run());
        test_server
    }
}

impl TestServer {
    /// A server over a fresh in-memory database on `127.0.0.1:0`, with org `org_demo`.
    pub async fn start() -> TestServer {
        TestServer::builder().start().await
    }

    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            config: Config::ephemeral(),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    pub fn publishable_key(&self) -> &str {
        &self.publishable_key
    }

    /// Every API request the server has served so far (the request journal, as
    /// `GET /_devreg/requests` shows it), oldest first: what the app under test sent and
    /// what it was answered. Empty when the journal is off (`journal_entries: 0`).
    pub fn requests(&self) -> Vec<JournalEntry> {
        self.journal
            .as_ref()
            .map(|j| j.page(0, usize::MAX).requests)
            .unwrap_or_default()
    }

    /// Empties the request journal.
    pub fn clear_requests(&self) {
        if let Some(journal) = &self.journal {
            journal.clear();
        }
    }

    /// The time as the server sees it.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Moves the server's clock (and its rate limiter's) forward by `secs`, as
    /// `POST /_devreg/clock {"advance_seconds": secs}` does: for a test that would
    /// otherwise sleep.
    pub fn advance_clock(&self, secs: u64) {
        self.clock.advance(secs);
        self.rate_limit_clock
            .advance(std::time::Duration::from_secs(secs));
    }

    /// Moves the server's clock forward to `to`; panics if `to` is before its present.
    pub fn set_clock(&self, to: Timestamp) {
        let before = self.clock.now();
        self.clock.set(to).unwrap_or_else(|now| {
            panic!(
                "the clock only moves forward; it is at {}",
                now.to_rfc3339()
            )
        });
        self.rate_limit_clock
            .advance(std::time::Duration::from_secs(
                u64::try_from(to.0 - before.0).unwrap_or(0),
            ));
    }

    /// Runs a connectivity sweep at the clock's present and waits for it: after
    /// [`TestServer::advance_clock`], the `device.connectivity_changed` events of the new
    /// time are in the log once this returns (`POST /_devreg/clock` sweeps by itself).
    pub async fn sweep(&self) -> crate::sweep::SweepReport {
        self.sweeper.sweep_now().await.expect("the sweep failed")
    }

    /// The database the server runs on (`Config::db`): `:memory:`, a file, or a
    /// `postgres://` URL another instance can be started on.
    pub fn db_url(&self) -> &str {
        &self.db_url
    }

    /// The server's database, for operator actions such as creating another org.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Registers `identifier` (platform `python`, no capabilities) into the server's org,
    /// exactly as `POST /api/v1/devices/register` does but without an HTTP client.
    /// Panics when it cannot: an invalid or already registered identifier.
    pub async fn register_device(&self, identifier: &str) -> TestDevice {
        let parsed = DeviceIdentifier::try_from(identifier.to_owned()).unwrap_or_else(|e| {
            panic!(
                "device identifier {} {e}",
                crate::domain::quoted(identifier)
            )
        });
        let key = ApiKey::generate(KeyKind::Device);
        let (org_id, stored_key) = (self.org_id.clone(), key.clone());
        let now = self.clock.now();
        let device = self
            .db
            .write(move |tx| {
                devices::register(
                    tx,
                    &devices::Registration {
                        org_id: &org_id,
                        identifier: &parsed,
                        platform: &Platform::default(),
                        capabilities_json: "{}",
                        metadata_json: "{}",
                        labels: &crate::domain::Labels::default(),
                        key: &stored_key,
                    },
                    now,
                )
            })
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "registering {} failed: {e}",
                    crate::domain::quoted(identifier)
                )
            })
            .expect("the test server's org exists");
        TestDevice {
            id: device.id,
            device_id: device.identifier.into(),
            api_key: key.expose().to_owned(),
        }
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The stop command is sent at once; the returned future only waits for it.
        drop(self.handle.stop(false));
    }
}
