//! Prometheus metrics for `GET /metrics`: what an operator needs to see the server work.
//!
//! Every label set is bounded: routes are the route table's patterns (`unmatched` for
//! anything else), methods the standard ones (`other` for the rest), statuses the HTTP
//! codes. A device id or key never becomes a label.

use sha2::Digest;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The route patterns whose successes are counted as heartbeats and registrations.
pub const HEARTBEAT_ROUTE: &str = "/api/v1/devices/{device_id}/heartbeat";
pub const REGISTER_ROUTE: &str = "/api/v1/devices/register";

/// What the database reports at a scrape.
pub struct DatabaseFigures {
    pub errors: u64,
    pub commits: u64,
    pub writes: u64,
    pub devices: u64,
}

/// One server's metrics, in a registry of its own (several servers may share a process).
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    heartbeats: IntCounter,
    registrations: IntCounter,
    rate_limited: IntCounter,
    /// Mirror the database's own counts; the mutex keeps two renders from both adding
    /// the same increase.
    database_errors: Mutex<IntCounter>,
    database_commits: Mutex<IntCounter>,
    database_writes: Mutex<IntCounter>,
    devices: IntGauge,
    device_quota: IntGauge,
    quota_refusals: IntCounter,
    telemetry: TelemetryCounters,
    artifacts: ArtifactCounters,
    stream_reads: StreamReads,
}

/// Reads of the event log made for event streams: `shared`, the one read after a commit
/// that serves every open stream; `own`, a stream's read by itself (to catch up when it
/// opens or fell behind).
#[derive(Clone)]
pub struct StreamReads(IntCounterVec);

impl StreamReads {
    pub fn shared(&self) {
        self.0.with_label_values(&["shared"]).inc();
    }

    pub fn own(&self) {
        self.0.with_label_values(&["own"]).inc();
    }
}

/// Hosted model files (issue 26): bytes stored, received and served.
struct ArtifactCounters {
    stored: IntGauge,
    uploaded: IntCounter,
    served: IntCounter,
}

/// Telemetry ingestion: what was stored, what retention dropped, what was refused.
struct TelemetryCounters {
    stored: IntCounterVec,
    duplicates: IntCounter,
    dropped: IntCounterVec,
    unknown_device: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "devreg_http_requests_total",
                "HTTP requests by route, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "devreg_http_request_duration_seconds",
                "Time from request to response, by route.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route"],
        )
        .expect("valid metric");
        // Constant 1, labelled with what is running: the usual Prometheus way to join a
        // version onto other series.
        let build_info = IntGauge::with_opts(
            Opts::new("devreg_build_info", "The devreg build serving; always 1.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build_info.set(1);
        registry
            .register(Box::new(build_info))
            .expect("unique metric names");
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let metrics = Metrics {
            heartbeats: counter("devreg_heartbeats_total", "Heartbeats recorded."),
            registrations: counter("devreg_registrations_total", "Devices registered."),
            rate_limited: counter(
                "devreg_rate_limited_total",
                "Requests refused with 429 rate_limited.",
            ),
            database_errors: Mutex::new(counter(
                "devreg_database_errors_total",
                "Database operations that failed (not counting refused duplicates).",
            )),
            database_commits: Mutex::new(counter(
                "devreg_database_commits_total",
                "Write transactions committed; each holds every write queued while the \
                 previous one committed (group commit).",
            )),
            database_writes: Mutex::new(counter(
                "devreg_database_writes_total",
                "Writes answered as committed; against devreg_database_commits_total, how \
                 many writes a commit holds.",
            )),
            devices: gauge("devreg_devices", "Registered devices, all orgs."),
            telemetry: TelemetryCounters {
                stored: IntCounterVec::new(
                    Opts::new(
                        "devreg_telemetry_events_total",
                        "Telemetry events stored, by endpoint (otlp, batch).",
                    ),
                    &["source"],
                )
                .expect("valid metric"),
                duplicates: counter(
                    "devreg_telemetry_duplicates_total",
                    "Telemetry events not stored because they were stored before (same \
                     batch_id or event_id).",
                ),
                dropped: IntCounterVec::new(
                    Opts::new(
                        "devreg_telemetry_dropped_total",
                        "Stored telemetry events deleted by retention, oldest first, by bound \
                         (device, org).",
                    ),
                    &["bound"],
                )
                .expect("valid metric"),
                unknown_device: counter(
                    "devreg_telemetry_unknown_device_total",
                    "Telemetry events refused because they named no device known in the \
                     key's org (answered with the needs-registration signal).",
                ),
            },
            device_quota: gauge(
                "devreg_org_device_quota",
                "The most devices one org may have (--max-devices-per-org); 0 is no limit.",
            ),
            quota_refusals: counter(
                "devreg_device_quota_refusals_total",
                "Registrations refused because the org had reached its device quota.",
            ),
            artifacts: ArtifactCounters {
                stored: gauge(
                    "devreg_artifact_bytes_stored",
                    "Bytes of hosted model files published, all orgs (a file two versions \
                     share counted twice), as read at this scrape.",
                ),
                uploaded: counter(
                    "devreg_artifact_bytes_uploaded_total",
                    "Bytes of model files received by uploads.",
                ),
                served: counter(
                    "devreg_artifact_bytes_served_total",
                    "Bytes of hosted model files sent in download bodies.",
                ),
            },
            stream_reads: StreamReads(
                IntCounterVec::new(
                    Opts::new(
                        "devreg_event_stream_reads_total",
                        "Reads of the event log for event streams, by reader: shared (one \
                         after a commit, for every open stream) or own (a stream catching up \
                         by itself, when it opens or fell behind).",
                    ),
                    &["reader"],
                )
                .expect("valid metric"),
            ),
            requests,
            latency,
            registry,
        };
        // Zero before the first event, so a scrape shows every series.
        for source in ["otlp", "batch", "inference"] {
            metrics.telemetry.stored.with_label_values(&[source]);
        }
        for bound in ["device", "org"] {
            metrics.telemetry.dropped.with_label_values(&[bound]);
        }
        for reader in ["shared", "own"] {
            metrics.stream_reads.0.with_label_values(&[reader]);
        }
        for collector in [
            Box::new(metrics.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.latency.clone()),
            Box::new(metrics.heartbeats.clone()),
            Box::new(metrics.registrations.clone()),
            Box::new(metrics.rate_limited.clone()),
            Box::new(metrics.database_errors.lock().unwrap().clone()),
            Box::new(metrics.database_commits.lock().unwrap().clone()),
            Box::new(metrics.database_writes.lock().unwrap().clone()),
            Box::new(metrics.devices.clone()),
            Box::new(metrics.telemetry.stored.clone()),
            Box::new(metrics.telemetry.duplicates.clone()),
            Box::new(metrics.telemetry.dropped.clone()),
            Box::new(metrics.telemetry.unknown_device.clone()),
            Box::new(metrics.device_quota.clone()),
            Box::new(metrics.quota_refusals.clone()),
            Box::new(metrics.artifacts.stored.clone()),
            Box::new(metrics.artifacts.uploaded.clone()),
            Box::new(metrics.artifacts.served.clone()),
            Box::new(metrics.stream_reads.0.clone()),
        ] {
            metrics
                .registry
                .register(collector)
                .expect("unique metric names");
        }
        metrics
    }

    /// The counters of reads made for event streams, for the streams' hub.
    pub fn stream_reads(&self) -> StreamReads {
        self.stream_reads.clone()
    }

    /// Reports the per-org device quota the server enforces.
    pub fn set_device_quota(&self, quota: u64) {
        self.device_quota
            .set(i64::try_from(quota).unwrap_or(i64::MAX));
    }

    /// Counts one registration refused by the device quota.
    pub fn count_quota_refusal(&self) {
        self.quota_refusals.inc();
    }

    /// Records one finished request. `route` is the matched pattern, if any.
    pub fn observe(&self, route: Option<&str>, method: &str, status: u16, elapsed: Duration) {
        let route = route.unwrap_or("unmatched");
        let method = match method {
            "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" => method,
            _ => "other",
        };
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
        let success = (200..300).contains(&status);
        if success && route == HEARTBEAT_ROUTE {
            self.heartbeats.inc();
        }
        if success && route == REGISTER_ROUTE {
            self.registrations.inc();
        }
        if status == 429 {
            self.rate_limited.inc();
        }
    }

    /// Counts one telemetry request's outcome, after its transaction committed.
    pub fn telemetry(&self, source: &str, done: &crate::store::telemetry::Ingested) {
        self.telemetry
            .stored
            .with_label_values(&[source])
            .inc_by(done.stored);
        self.telemetry.duplicates.inc_by(done.duplicates);
        self.telemetry
            .dropped
            .with_label_values(&["device"])
            .inc_by(done.dropped_device);
        self.telemetry
            .dropped
            .with_label_values(&["org"])
            .inc_by(done.dropped_org);
    }

    /// Counts telemetry events refused for naming no known device.
    pub fn telemetry_unknown_device(&self, events: u64) {
        self.telemetry.unknown_device.inc_by(events);
    }

    /// Counts `bytes` of model files received by an upload.
    pub fn count_artifact_bytes_uploaded(&self, bytes: u64) {
        self.artifacts.uploaded.inc_by(bytes);
    }

    /// Counts `bytes` of hosted model files sent.
    pub fn count_artifact_bytes_served(&self, bytes: u64) {
        self.artifacts.served.inc_by(bytes);
    }

    /// Reports the bytes of hosted model files published, as just read.
    pub fn set_artifact_bytes_stored(&self, bytes: i64) {
        self.artifacts.stored.set(bytes);
    }

    /// The text exposition, with the database's counts and device gauge as read just now.
    pub fn render(&self, db: DatabaseFigures) -> String {
        for (mirror, now) in [
            (&self.database_errors, db.errors),
            (&self.database_commits, db.commits),
            (&self.database_writes, db.writes),
        ] {
            let counted = mirror.lock().unwrap_or_else(|e| e.into_inner());
            counted.inc_by(now.saturating_sub(counted.get()));
        }
        let devices = db.devices;
        self.devices.set(i64::try_from(devices).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Who may read `GET /metrics` (`--metrics-token`), and whether it shows the fleet's sizes.
#[derive(Debug, Clone)]
pub enum Access {
    /// Anyone, everything: an ephemeral server without a token.
    Everything,
    /// Anyone, without the fleet's sizes: a server that is not ephemeral, without a token.
    NoFleetSizes,
    /// Whoever sends `Authorization: Bearer` and the token (its SHA-256 kept), everything.
    Token([u8; 32]),
}

/// The series a server without a metrics token leaves out of its public /metrics: how big
/// the fleet is.
pub const FLEET_SIZES: &[&str] = &["devreg_devices", "devreg_artifact_bytes_stored"];

impl Access {
    /// The access `--metrics-token` (if given) and `--ephemeral` make.
    pub fn of(token: Option<&str>, ephemeral: bool) -> Access {
        match token {
            Some(token) => Access::Token(sha2::Sha256::digest(token.as_bytes()).into()),
            None if ephemeral => Access::Everything,
            None => Access::NoFleetSizes,
        }
    }

    /// Whether a request whose `Authorization` header is `authorization` may read the
    /// metrics; `Some(with fleet sizes)` if so.
    pub fn allows(&self, authorization: Option<&[u8]>) -> Option<bool> {
        match self {
            Access::Everything => Some(true),
            Access::NoFleetSizes => Some(false),
            Access::Token(digest) => {
                let presented = authorization?.strip_prefix(b"Bearer ")?;
                // Digests of equal length: comparing them tells nothing of the token.
                (sha2::Sha256::digest(presented).as_slice() == digest.as_slice()).then_some(true)
            }
        }
    }
}

/// `text` (the exposition) without the series named in [`FLEET_SIZES`], their `# HELP`
/// and `# TYPE` lines included.
pub fn without_fleet_sizes(text: &str) -> String {
    text.lines()
        .filter(|line| {
            let name = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
                .unwrap_or(line);
            let name = name.split([' ', '{']).next().unwrap_or("");
            !FLEET_SIZES.contains(&name)
        })
        .flat_map(|line| [line, "\n"])
        .collect()
}
