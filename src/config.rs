//! Everything `devreg serve` can be told, read once at the edge: each field is a flag and
//! a `DEVREG_…` environment variable, and the library takes the same struct.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::ArgPredicate;
use clap::{ArgAction, Args};

use crate::clock::{Clock, RateLimitClock};

/// How a devreg server runs.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address and port to listen on. Port 0 picks a free port (the default with
    /// --ephemeral).
    #[arg(
        long,
        env = "DEVREG_BIND",
        default_value = "127.0.0.1:8080",
        default_value_if("ephemeral", ArgPredicate::IsPresent, "127.0.0.1:0")
    )]
    pub bind: String,

    /// SQLite database file, created if missing. `:memory:` keeps everything in memory
    /// and loses it at exit. A `postgres://` URL runs on that PostgreSQL database
    /// instead, which several instances may serve (docs/scaling.md). A file is ignored
    /// with --ephemeral, which is then in memory.
    #[arg(long, env = "DEVREG_DB", default_value = "devreg.db")]
    pub db: String,

    /// A throwaway server for tests and local development: an in-memory database, a free
    /// port unless --bind is given, any CORS origin, the `/_devreg/reset` routes, and one
    /// JSON line on stdout when it is ready (`url`, `org_id`, `secret_key`,
    /// `publishable_key`) instead of the first-start banner.
    #[arg(long, env = "DEVREG_EPHEMERAL")]
    pub ephemeral: bool,

    /// With --ephemeral: a JSON file of orgs and devices (with known keys if wanted) to
    /// load at start and to return to at every reset. Its format is in docs/testing.md.
    #[arg(long, env = "DEVREG_SEED", value_name = "FILE", requires = "ephemeral")]
    pub seed: Option<PathBuf>,

    /// Stop (exit 0) when standard input reaches its end, so a test runner that dies
    /// leaves no server behind: start devreg with a pipe as stdin and keep it open.
    #[arg(long, env = "DEVREG_EXIT_ON_STDIN_CLOSE")]
    pub exit_on_stdin_close: bool,

    /// Browser origins allowed to call the API (CORS), such as `http://localhost:3000`;
    /// repeat the flag or separate with commas. `*` allows any origin. With none, no CORS
    /// headers are sent. --ephemeral allows any origin.
    #[arg(
        long = "cors-origin",
        env = "DEVREG_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<String>,

    /// Whether a device may register without a key (the reference's example sends none).
    /// It then joins the body's `org_id`, or `org_demo`. Turn off on a public server.
    #[arg(
        long,
        env = "DEVREG_OPEN_REGISTRATION",
        default_value_t = true,
        action = ArgAction::Set,
        value_name = "true|false"
    )]
    pub open_registration: bool,

    /// A known secret key (`edg_live_` and at least 22 letters or digits) for `org_demo`,
    /// stored if absent, so scripts and CI can use a fixed value. Prefer the environment
    /// variable: a flag shows in the process list.
    #[arg(
        long,
        env = "DEVREG_SECRET_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub secret_key: Option<String>,

    /// A known publishable key (`oct_pub_live_…`) for `org_demo`, like --secret-key.
    #[arg(
        long,
        env = "DEVREG_PUBLISHABLE_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub publishable_key: Option<String>,

    /// Seconds between heartbeats that responses ask devices to keep.
    #[arg(
        long,
        env = "DEVREG_HEARTBEAT_INTERVAL",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub heartbeat_interval: u32,

    /// A device is `stale` once its last heartbeat is more than this many heartbeat
    /// intervals old.
    #[arg(
        long,
        env = "DEVREG_STALE_AFTER_INTERVALS",
        default_value_t = 2,
        value_name = "N"
    )]
    pub stale_after_intervals: u32,

    /// A device is `offline` once its last heartbeat is more than this many heartbeat
    /// intervals old (a device that never sent one is offline from the start).
    #[arg(
        long,
        env = "DEVREG_OFFLINE_AFTER_INTERVALS",
        default_value_t = 10,
        value_name = "N"
    )]
    pub offline_after_intervals: u32,

    /// Seconds between connectivity sweeps, each of which writes
    /// `device.connectivity_changed` for the devices that went stale or offline since
    /// the last one (and trims events past retention).
    #[arg(
        long,
        env = "DEVREG_SWEEP_INTERVAL",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub sweep_interval: u32,

    /// How long events are kept, in seconds (default 7 days); older ones are removed by
    /// the sweep, and reading from before them is a 410.
    #[arg(
        long,
        env = "DEVREG_EVENT_RETENTION",
        default_value_t = 604_800,
        value_name = "SECONDS"
    )]
    pub event_retention: u64,

    /// Seconds between keep-alive comments on an idle event stream.
    #[arg(
        long,
        env = "DEVREG_EVENT_KEEPALIVE",
        default_value_t = 15,
        value_name = "SECONDS"
    )]
    pub event_keepalive: u32,

    /// Most event streams one credential may hold open; one more is a 429. 0 means no
    /// limit.
    #[arg(
        long,
        env = "DEVREG_MAX_STREAMS_PER_KEY",
        default_value_t = 8,
        value_name = "N"
    )]
    pub max_streams_per_key: u32,

    /// A bearer token `GET /metrics` requires, which then reports everything. Without
    /// one, /metrics answers anyone and, unless the server is --ephemeral, leaves out the
    /// fleet's sizes (devreg_devices, devreg_artifact_bytes_stored). Prefer the
    /// environment variable: a flag shows in the process list.
    #[arg(
        long,
        env = "DEVREG_METRICS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub metrics_token: Option<String>,

    /// HTTP worker threads; defaults to the number of CPU cores.
    #[arg(long, env = "DEVREG_WORKERS", value_name = "N")]
    pub workers: Option<usize>,

    /// Seconds a request's body may take to arrive after its headers (decimals allowed);
    /// a body still incomplete then is answered with a 408. Headers have actix-web's own
    /// 5 s limit.
    #[arg(
        long,
        env = "DEVREG_BODY_TIMEOUT",
        default_value = "15",
        value_parser = parse_seconds,
        value_name = "SECONDS"
    )]
    pub body_timeout: Duration,

    /// Read connections kept open to a file database (writes use one connection of their own).
    #[arg(
        long,
        env = "DEVREG_READ_CONNECTIONS",
        default_value_t = 4,
        value_name = "N"
    )]
    pub read_connections: u32,

    /// Requests per minute allowed per device key (`edg_dev_…`), and heartbeats per device
    /// whichever key sends them (its own, a publishable or the secret key); 0 turns both
    /// off.
    #[arg(
        long,
        env = "DEVREG_RATE_LIMIT_DEVICE",
        default_value_t = 100,
        value_name = "PER_MINUTE"
    )]
    pub rate_limit_device: u32,

    /// Requests a device key may send at once before the per-minute rate applies;
    /// defaults to the per-minute quota.
    #[arg(long, env = "DEVREG_RATE_LIMIT_DEVICE_BURST", value_name = "N")]
    pub rate_limit_device_burst: Option<u32>,

    /// Requests per minute allowed per publishable key (`oct_pub_live_…`), shared by every
    /// installation of the app that ships it; 0 turns the limit off.
    #[arg(
        long,
        env = "DEVREG_RATE_LIMIT_PUBLISHABLE",
        default_value_t = 6000,
        value_name = "PER_MINUTE"
    )]
    pub rate_limit_publishable: u32,

    /// Burst for publishable keys; defaults to the per-minute quota.
    #[arg(long, env = "DEVREG_RATE_LIMIT_PUBLISHABLE_BURST", value_name = "N")]
    pub rate_limit_publishable_burst: Option<u32>,

    /// Requests per minute allowed per org secret key (`edg_live_…`); 0 turns the limit off.
    #[arg(
        long,
        env = "DEVREG_RATE_LIMIT_SECRET",
        default_value_t = 3000,
        value_name = "PER_MINUTE"
    )]
    pub rate_limit_secret: u32,

    /// Registrations per minute allowed per publishable key, beside its general quota: a
    /// publishable key is public by design, so what it may add is kept lower than what it
    /// may send. 0 turns this limit off.
    #[arg(
        long,
        env = "DEVREG_RATE_LIMIT_PUBLISHABLE_REGISTER",
        default_value_t = 600,
        value_name = "PER_MINUTE"
    )]
    pub rate_limit_publishable_register: u32,

    /// Burst for registrations per publishable key; defaults to the per-minute quota.
    #[arg(
        long,
        env = "DEVREG_RATE_LIMIT_PUBLISHABLE_REGISTER_BURST",
        value_name = "N"
    )]
    pub rate_limit_publishable_register_burst: Option<u32>,

    /// Most bytes of JSON a device's `capabilities` may take, as stored; larger is a 400.
    #[arg(
        long,
        env = "DEVREG_MAX_CAPABILITIES_BYTES",
        default_value_t = 8192,
        value_name = "BYTES"
    )]
    pub max_capabilities_bytes: usize,

    /// Most bytes of JSON a device's `metadata` may take at registration (with the SDK
    /// fields merged in), and a heartbeat's metadata fields (`sdk_version`, ...) together.
    #[arg(
        long,
        env = "DEVREG_MAX_METADATA_BYTES",
        default_value_t = 8192,
        value_name = "BYTES"
    )]
    pub max_metadata_bytes: usize,

    /// Most bytes of JSON a heartbeat's metrics snapshot may take, as stored.
    #[arg(
        long,
        env = "DEVREG_MAX_METRICS_BYTES",
        default_value_t = 8192,
        value_name = "BYTES"
    )]
    pub max_metrics_bytes: usize,

    /// Most devices one org may have; a registration past it is a 403. 0 means no limit.
    #[arg(
        long,
        env = "DEVREG_MAX_DEVICES_PER_ORG",
        default_value_t = 1_000_000,
        value_name = "N"
    )]
    pub max_devices_per_org: u64,

    /// Burst for secret keys; defaults to the per-minute quota.
    #[arg(long, env = "DEVREG_RATE_LIMIT_SECRET_BURST", value_name = "N")]
    pub rate_limit_secret_burst: Option<u32>,

    /// Requests per minute allowed per client address (IPv6: per /64) for calls without a
    /// valid key: open registration, malformed keys, and keys refused with 401. 0 turns
    /// the limit off.
    #[arg(
        long,
        env = "DEVREG_RATE_LIMIT_ANONYMOUS",
        default_value_t = 60,
        value_name = "PER_MINUTE"
    )]
    pub rate_limit_anonymous: u32,

    /// Burst for client addresses; defaults to the per-minute quota.
    #[arg(long, env = "DEVREG_RATE_LIMIT_ANONYMOUS_BURST", value_name = "N")]
    pub rate_limit_anonymous_burst: Option<u32>,

    /// Take the client address from `Fly-Client-IP` or the last `X-Forwarded-For` entry
    /// instead of the connection. Only behind a proxy that sets them: anyone can forge them.
    #[arg(
        long,
        env = "DEVREG_TRUST_PROXY_HEADERS",
        default_value_t = false,
        action = ArgAction::Set,
        value_name = "true|false"
    )]
    pub trust_proxy_headers: bool,

    /// With --ephemeral: how many requests the request journal (`GET /_devreg/requests`)
    /// keeps; the oldest go first. 0 turns the journal off.
    #[arg(long, env = "DEVREG_JOURNAL_ENTRIES", default_value_t = crate::journal::DEFAULT_ENTRIES, value_name = "N")]
    pub journal_entries: usize,
    /// Telemetry events kept per device; beyond it the oldest are deleted (and counted in
    /// /metrics as devreg_telemetry_dropped_total). 0: no bound.
    #[arg(
        long,
        env = "DEVREG_TELEMETRY_PER_DEVICE",
        default_value_t = 10_000,
        value_name = "EVENTS"
    )]
    pub telemetry_per_device: u64,

    /// Telemetry events kept per org, across its devices; beyond it the org's oldest are
    /// deleted (and counted). 0: no bound.
    #[arg(
        long,
        env = "DEVREG_TELEMETRY_PER_ORG",
        default_value_t = 5_000_000,
        value_name = "EVENTS"
    )]
    pub telemetry_per_org: u64,

    /// Lifetime of a device access token when the bootstrap does not ask for less.
    #[arg(
        long,
        env = "DEVREG_ACCESS_TOKEN_TTL",
        default_value_t = 3600,
        value_name = "SECONDS"
    )]
    pub access_token_ttl: u32,

    /// Lifetime of a device refresh token (each refresh issues a new one).
    #[arg(
        long,
        env = "DEVREG_REFRESH_TOKEN_TTL",
        default_value_t = 30 * 24 * 3600,
        value_name = "SECONDS"
    )]
    pub refresh_token_ttl: u32,
    /// The largest part of a federated update upload (`PUT` to a part URL), in bytes.
    /// Parts are not JSON and have their own limit, not the API's 64 KiB.
    #[arg(
        long,
        env = "DEVREG_UPLOAD_PART_BYTES",
        default_value_t = 8 * 1024 * 1024,
        value_name = "BYTES"
    )]
    pub upload_part_bytes: u64,

    /// The largest federated update upload, all its parts together, in bytes.
    #[arg(
        long,
        env = "DEVREG_UPLOAD_MAX_BYTES",
        default_value_t = 64 * 1024 * 1024,
        value_name = "BYTES"
    )]
    pub upload_max_bytes: u64,

    /// How many uploads one device may have open (started, not completed) at once, over
    /// every round; past it, starting another is a 409 until one completes or is reclaimed.
    #[arg(
        long,
        env = "DEVREG_UPLOADS_PER_DEVICE",
        default_value_t = 2,
        value_name = "N"
    )]
    pub uploads_per_device: u32,

    /// How many uploads one round may have open at once; past it, starting another is a
    /// 429 until some complete or are reclaimed.
    #[arg(
        long,
        env = "DEVREG_UPLOADS_PER_ROUND",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub uploads_per_round: u32,

    /// An upload not completed this many seconds after it started is abandoned: the sweep
    /// deletes it and its parts. Uploads of a round that ends are deleted when it ends.
    #[arg(
        long,
        env = "DEVREG_UPLOAD_ABANDON_AFTER",
        default_value_t = 3600,
        value_name = "SECONDS"
    )]
    pub upload_abandon_after: u32,
    /// Where hosted model files are stored (issue 26): a directory, made if missing. By
    /// default `NAME-artifacts` beside a database file `NAME.db` (`devreg-artifacts` for
    /// PostgreSQL); an in-memory database gets a temporary one. Or an S3-compatible
    /// bucket, `s3://BUCKET/PREFIX`, with credentials from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION and, for a server other than AWS,
    /// AWS_ENDPOINT_URL (plain http only on a loopback address); partial uploads then stay
    /// in the directory the default would be.
    #[arg(long, env = "DEVREG_ARTIFACTS", value_name = "DIR|s3://BUCKET/PREFIX")]
    pub artifacts: Option<PathBuf>,

    /// The largest hosted model file an upload may bring, in bytes.
    #[arg(
        long,
        env = "DEVREG_ARTIFACT_MAX_BYTES",
        default_value_t = 10 * 1024 * 1024 * 1024,
        value_name = "BYTES"
    )]
    pub artifact_max_bytes: u64,

    /// The most bytes of hosted model files one org may store; 0: no limit.
    #[arg(
        long,
        env = "DEVREG_ARTIFACT_QUOTA_BYTES",
        default_value_t = 0,
        value_name = "BYTES"
    )]
    pub artifact_quota_bytes: u64,

    /// An artifact upload not confirmed this many seconds after it started is abandoned:
    /// its upload URL stops working and the sweep removes it and its bytes.
    #[arg(
        long,
        env = "DEVREG_ARTIFACT_UPLOAD_ABANDON_AFTER",
        default_value_t = 24 * 3600,
        value_name = "SECONDS"
    )]
    pub artifact_upload_abandon_after: u32,

    /// The clock rate limits are measured by. Not a flag: tests advance it to stand for
    /// time passing without sleeping.
    #[arg(skip)]
    pub rate_limit_clock: RateLimitClock,

    /// The rate limits (field names) given a value rather than left at their defaults: an
    /// ephemeral server keeps these and turns the others off ([`Config::resolve`]). Not a
    /// flag: the command line fills it from what was given; [`Config::ephemeral`] counts
    /// every limit as set (its values are what the test wants).
    #[arg(skip)]
    pub rate_limits_set: Vec<String>,

    /// The server's clock. Not a flag: ephemeral servers and tests move it forward
    /// (`POST /_devreg/clock`, `TestServer::advance_clock`) instead of sleeping.
    #[arg(skip)]
    pub clock: Clock,

    /// Whether SIGINT/SIGTERM stop the server. The command line always listens; a server
    /// inside a test process does not, so Ctrl-C still ends the test run.
    #[arg(skip = true)]
    pub handle_signals: bool,
}

impl Default for Config {
    /// The same values as the command line's defaults, without reading the environment.
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".to_owned(),
            db: "devreg.db".to_owned(),
            ephemeral: false,
            seed: None,
            exit_on_stdin_close: false,
            cors_origins: Vec::new(),
            open_registration: true,
            secret_key: None,
            publishable_key: None,
            heartbeat_interval: 60,
            stale_after_intervals: 2,
            offline_after_intervals: 10,
            sweep_interval: 30,
            event_retention: 604_800,
            event_keepalive: 15,
            max_streams_per_key: 8,
            metrics_token: None,
            workers: None,
            read_connections: 4,
            body_timeout: Duration::from_secs(15),
            handle_signals: true,
            rate_limit_device: 100,
            rate_limit_device_burst: None,
            rate_limit_publishable: 6000,
            rate_limit_publishable_burst: None,
            rate_limit_publishable_register: 600,
            rate_limit_publishable_register_burst: None,
            max_capabilities_bytes: 8192,
            max_metadata_bytes: 8192,
            max_metrics_bytes: 8192,
            max_devices_per_org: 1_000_000,
            rate_limit_secret: 3000,
            rate_limit_secret_burst: None,
            rate_limit_anonymous: 60,
            rate_limit_anonymous_burst: None,
            trust_proxy_headers: false,
            telemetry_per_device: 10_000,
            telemetry_per_org: 5_000_000,
            access_token_ttl: 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            upload_part_bytes: 8 * 1024 * 1024,
            upload_max_bytes: 64 * 1024 * 1024,
            uploads_per_device: 2,
            uploads_per_round: 10_000,
            upload_abandon_after: 3600,
            artifacts: None,
            artifact_max_bytes: 10 * 1024 * 1024 * 1024,
            artifact_quota_bytes: 0,
            artifact_upload_abandon_after: 24 * 3600,
            rate_limit_clock: RateLimitClock::default(),
            clock: Clock::default(),
            rate_limits_set: Vec::new(),
            journal_entries: crate::journal::DEFAULT_ENTRIES,
        }
    }
}

impl Config {
    /// A server on a free loopback port over a fresh in-memory database, in ephemeral mode
    /// (any CORS origin, the reset routes), with one worker and no signal handling: what
    /// tests want.
    pub fn ephemeral() -> Self {
        let mut config = Config {
            bind: "127.0.0.1:0".to_owned(),
            db: crate::store::MEMORY.to_owned(),
            ephemeral: true,
            workers: Some(1),
            handle_signals: false,
            ..Config::default()
        }
        .without_rate_limits();
        let set = config
            .rate_limits_mut()
            .map(|(id, _)| id.to_owned())
            .to_vec();
        config.rate_limits_set = set;
        config
    }

    /// The config a server runs with: what `--ephemeral` implies, applied in this one
    /// place for the library and the command line alike. An ephemeral server is in
    /// memory, allows any CORS origin, and has every rate limit off that was not set
    /// ([`Config::rate_limits_set`]), so a test suite is not told to slow down unless it
    /// asks for a limit.
    pub fn resolve(&self) -> Config {
        let mut resolved = self.clone();
        if !self.ephemeral {
            return resolved;
        }
        // A PostgreSQL database stays: the test suite runs ephemeral servers on one of
        // their own (tests/api/helpers.rs).
        if !crate::store::pg::is_url(&self.db) {
            crate::store::MEMORY.clone_into(&mut resolved.db);
        }
        resolved.cors_origins = vec!["*".to_owned()];
        let set = self.rate_limits_set.clone();
        for (id, quota) in resolved.rate_limits_mut() {
            if !set.iter().any(|s| s == id) {
                *quota = 0;
            }
        }
        resolved
    }

    /// Every rate-limit quota, by its field name (the flag's id).
    fn rate_limits_mut(&mut self) -> [(&'static str, &mut u32); 5] {
        [
            ("rate_limit_device", &mut self.rate_limit_device),
            ("rate_limit_publishable", &mut self.rate_limit_publishable),
            (
                "rate_limit_publishable_register",
                &mut self.rate_limit_publishable_register,
            ),
            ("rate_limit_secret", &mut self.rate_limit_secret),
            ("rate_limit_anonymous", &mut self.rate_limit_anonymous),
        ]
    }

    /// Records which rate limits `matches` (the `serve` command's) gave a value, from a
    /// flag or the environment: the ones an ephemeral server keeps.
    pub fn note_rate_limits_given(&mut self, matches: &clap::ArgMatches) {
        use clap::parser::ValueSource;
        let given: Vec<String> = self
            .rate_limits_mut()
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| {
                matches
                    .value_source(id)
                    .is_some_and(|s| s != ValueSource::DefaultValue)
            })
            .map(str::to_owned)
            .collect();
        self.rate_limits_set = given;
    }

    /// Every rate limit off: what a throwaway server starts with, so a test suite is not
    /// told to slow down unless it asks for limits.
    pub fn without_rate_limits(self) -> Self {
        Config {
            rate_limit_device: 0,
            rate_limit_publishable: 0,
            rate_limit_secret: 0,
            rate_limit_anonymous: 0,
            rate_limit_publishable_register: 0,
            ..self
        }
    }
}

/// A duration given in seconds, decimals allowed (`15`, `0.5`); more than zero.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() && secs <= 86_400.0 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "must be a number of seconds above 0 and at most 86400, such as 15 or 0.5, got {}",
            crate::domain::quoted(text)
        )),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        config: Config,
    }

    /// The config the command line gives for `args`, as `Cli::parse_args` makes it.
    fn parsed(args: &[&str]) -> Config {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Serve::command().get_matches_from(args);
        let mut config = Serve::from_arg_matches(&matches).unwrap().config;
        config.note_rate_limits_given(&matches);
        config
    }

    #[test]
    fn an_ephemeral_config_resolves_the_same_from_the_library_and_the_command_line() {
        let library = Config {
            ephemeral: true,
            ..Config::default()
        }
        .resolve();
        let command_line = parsed(&["devreg", "--ephemeral"]).resolve();
        for resolved in [&library, &command_line] {
            assert_eq!(resolved.db, crate::store::MEMORY);
            assert_eq!(resolved.cors_origins, ["*"]);
            assert_eq!(
                [
                    resolved.rate_limit_device,
                    resolved.rate_limit_publishable,
                    resolved.rate_limit_publishable_register,
                    resolved.rate_limit_secret,
                    resolved.rate_limit_anonymous,
                ],
                [0; 5]
            );
        }
        let limited = parsed(&["devreg", "--ephemeral", "--rate-limit-anonymous", "2"]).resolve();
        assert_eq!(limited.rate_limit_anonymous, 2, "a limit given is kept");
        assert_eq!(limited.rate_limit_device, 0);
        let server = Config::default().resolve();
        assert_eq!(
            server.rate_limit_device,
            Config::default().rate_limit_device
        );
        assert_eq!(server.db, "devreg.db");
    }

    #[test]
    fn the_default_config_is_what_the_command_line_gives_with_no_flags() {
        // The environment could set a flag; these tests must not see one.
        let set: Vec<String> = std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("DEVREG_") && k != "DEVREG_BIN")
            .collect();
        assert!(set.is_empty(), "unset {set:?} to run this test");
        let mut parsed = Serve::parse_from(["devreg"]).config;
        let default = Config::default();
        // The clocks are not flags: each config has its own.
        parsed.rate_limit_clock = default.rate_limit_clock.clone();
        parsed.clock = default.clock.clone();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }
}
