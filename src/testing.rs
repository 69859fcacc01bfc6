//! A complete devreg inside a test process: its own in-memory database, a free loopback
//! port, an org with its keys. What this repo's tests start, and what other crates'
//! tests can start too.
//!
//! ```no_run
//! # async fn demo() {
//! let server = devreg::testing::TestServer::start().await;
//! println!("{} {} {}", server.url(), server.org_id(), server.secret_key());
//! // Dropping `server` stops it.
//! # }
//! ```

use crate::app::Server;
use crate::config::Config;
use crate::store::Db;

/// A running server; dropping it stops the server.
pub struct TestServer {
    url: String,
    org_id: String,
    secret_key: String,
    publishable_key: String,
    db: Db,
    handle: actix_web::dev::ServerHandle,
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

    /// The server's database, for operator actions such as creating another org.
    pub fn db(&self) -> &Db {
        &self.db
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
