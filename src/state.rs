//! What every handler can reach: the one [`AppState`] a server builds at start.

use std::sync::Arc;

use crate::clock::{Clock, RateLimitClock};
use crate::domain::ConnectivityRule;
use crate::metrics::Metrics;
use crate::seed::Seed;
use crate::store::Db;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    /// What every time-dependent rule reads; see [`Clock`].
    pub clock: Clock,
    /// The rate limiter's clock, moved with [`AppState::clock`] by test control.
    pub rate_limit_clock: RateLimitClock,
    pub metrics: Metrics,
    pub open_registration: bool,
    pub heartbeat_interval_seconds: u32,
    /// The thresholds `connectivity` is computed by.
    pub connectivity: ConnectivityRule,
    /// Runs connectivity sweeps; test control asks it for one and waits.
    pub sweeper: crate::sweep::Sweeper,
    /// Seconds between keep-alive comments on an idle event stream.
    pub event_keepalive_seconds: u32,
    /// In ephemeral mode, the state `POST /_devreg/reset` returns to; `None` otherwise,
    /// and the reset routes do not exist.
    pub baseline: Option<Arc<Seed>>,
    /// The request journal; on an ephemeral server only.
    pub journal: Option<Arc<crate::journal::Journal>>,
    /// This server's OpenAPI document, as `GET /openapi.json` serves it.
    pub openapi_json: &'static str,
}
