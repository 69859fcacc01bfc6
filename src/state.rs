//! What every handler can reach: the one [`AppState`] a server builds at start.

use std::sync::Arc;

use crate::clock::{Clock, RateLimitClock};
use crate::domain::ConnectivityRule;
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimits;
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
    /// The server's rate limits, for the checks that need to know the device first.
    pub limits: Arc<RateLimits>,
    /// What one device may store.
    pub caps: StorageCaps,
    /// The last readiness probe: its second and, if it failed, the sentence to answer.
    pub readiness: tokio::sync::Mutex<Option<(Timestamp, Result<(), String>)>>,
    /// The thresholds `connectivity` is computed by.
    pub connectivity: ConnectivityRule,
    /// Runs connectivity sweeps; test control asks it for one and waits.
    pub sweeper: crate::sweep::Sweeper,
    /// Seconds between keep-alive comments on an idle event stream.
    pub event_keepalive_seconds: u32,
    /// The event streams open per credential, bounded by `--max-streams-per-key`.
    pub event_streams: Arc<StreamSlots>,
    /// Who may read `GET /metrics`, and whether it shows the fleet's sizes.
    pub metrics_access: crate::metrics::Access,
    /// In ephemeral mode, the state `POST /_devreg/reset` returns to; `None` otherwise,
    /// and the reset routes do not exist.
    pub baseline: Option<Arc<Seed>>,
    /// The request journal; on an ephemeral server only.
    pub journal: Option<Arc<crate::journal::Journal>>,
    /// How many telemetry events are kept per device and per org.
    pub telemetry_retention: crate::store::telemetry::Retention,
    /// Lifetimes of device access and refresh tokens, in seconds.
    pub token_ttls: TokenTtls,
    /// How long a request body may take after its headers (`--body-timeout`).
    pub body_timeout: std::time::Duration,
    /// Bounds on federated update uploads.
    pub uploads: UploadLimits,
    /// This server's OpenAPI document, as `GET /openapi.json` serves it: built once per
    /// process on first use (a first `GET /openapi.json`, off the async threads), not before
    /// the server is ready, as building it costs more than the rest of a start.
    pub openapi_json: fn() -> &'static str,
    /// Hosted model files' bytes (issue 26).
    pub artifacts: crate::artifacts::Artifacts,
    /// Bounds on hosted model files.
    pub artifact_limits: ArtifactLimits,
    /// The key devreg signs artifact URLs with; never logged.
    pub signing_key: String,
}

/// How large hosted model files may be (`--artifact-max-bytes`), and how many bytes one
/// org may store (`--artifact-quota-bytes`, 0: no limit).
#[derive(Debug, Clone, Copy)]
pub struct ArtifactLimits {
    pub max_bytes: u64,
    pub quota_bytes: u64,
    /// `--artifact-upload-abandon-after`: how long an upload lives unconfirmed.
    pub abandon_after_secs: u32,
}

/// Lifetimes of device tokens, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct TokenTtls {
    pub access: u32,
    pub refresh: u32,
}

/// The most one device may store (`--max-…` flags): what keeps a public publishable key
/// from filling the disk.
#[derive(Debug, Clone, Copy)]
pub struct StorageCaps {
    pub capabilities_bytes: usize,
    pub metadata_bytes: usize,
    pub metrics_bytes: usize,
    /// 0: no limit.
    pub devices_per_org: u64,
}

impl StorageCaps {
    /// 400 when `json`, the value of `field` as it would be stored, is over `cap` bytes.
    pub fn check(field: &str, json: &str, cap: usize, flag: &str) -> Result<(), ApiError> {
        if json.len() <= cap {
            return Ok(());
        }
        Err(ApiError::BadRequest(format!(
            "{field} must be at most {cap} bytes as JSON, got {}; the server's operator \
             sets this cap with --{flag}",
            json.len()
        )))
    }
}

/// How large federated update uploads may be, from `--upload-part-bytes` and
/// `--upload-max-bytes`.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// The largest part body.
    pub part_bytes: u64,
    /// The largest upload, all parts together.
    pub max_bytes: u64,
    /// The most uploads a device may have open (`--uploads-per-device`).
    pub per_device: u32,
    /// The most uploads a round may have open (`--uploads-per-round`).
    pub per_round: u32,
}

/// How many event streams each credential holds open, and the most it may
/// (`--max-streams-per-key`; 0: no limit). A stream holds a [`StreamSlot`] for as long
/// as its response body lives.
#[derive(Debug, Default)]
pub struct StreamSlots {
    max: u32,
    open: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl StreamSlots {
    pub fn new(max: u32) -> Arc<Self> {
        Arc::new(StreamSlots {
            max,
            open: Default::default(),
        })
    }

    /// A slot for one more stream of credential `key_id`, or `None` when it holds the
    /// most it may.
    pub fn take(self: &Arc<Self>, key_id: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key_id.to_owned()).or_insert(0);
        if self.max != 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            slots: self.clone(),
            key_id: key_id.to_owned(),
        })
    }

    /// The most streams one credential may hold open; 0 for no limit.
    pub fn max(&self) -> u32 {
        self.max
    }
}

/// One open stream's place among its credential's; freed when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    key_id: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key_id);
            }
        }
    }
}
