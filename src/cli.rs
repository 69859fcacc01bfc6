//! The command line: `serve`, and the operator's commands beside it (orgs, keys, device
//! tokens and devices, models and deployments, `seed`, `openapi`, `backup`, `migrate`),
//! which work on the database a server uses, a SQLite file or PostgreSQL, and may run
//! while it serves.

use std::io::Write;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::admin::{self, OrgKeys};
use crate::app::Server;
use crate::config::Config;
use crate::domain::KeyKind;
use crate::logging::LogFormat;
use crate::store::{Db, ServeLock};

/// devreg: a self-hosted server for the Devices API, over a SQLite file or PostgreSQL.
/// `--help` shows the package description (`about`), not this comment.
#[derive(Debug, Parser)]
#[command(name = "devreg", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// What to log, in RUST_LOG's syntax (`warn`, `info,devreg::request=off`); replaces
    /// RUST_LOG when given. Default: RUST_LOG, else `info`. A directive that is neither a
    /// level nor MODULE=LEVEL is ignored with a warning.
    #[arg(long, global = true, env = "DEVREG_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// How log lines look on stderr: `text`, or `json` (one object a line: time, level,
    /// target, message).
    #[arg(
        long,
        global = true,
        env = "DEVREG_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

// One value, parsed once at start: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server. On an empty database, creates org_demo and prints its keys once.
    Serve(Config),
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage an org's secret and publishable keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Mint device tokens for an org's apps.
    #[command(subcommand)]
    Token(TokenCommand),
    /// List, show, delete and re-key an org's devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Register many devices at once, for benchmarks and load tests.
    Seed {
        /// How many devices to register.
        #[arg(long)]
        devices: u64,
        /// The org they join.
        #[arg(long, default_value = "org_demo")]
        org: String,
        /// Devices are named PREFIX-0, PREFIX-1, ...
        #[arg(long, default_value = "seed")]
        prefix: String,
        /// Write `id,key` lines for the devices to this file (keys are not kept anywhere else).
        #[arg(long)]
        keys_out: Option<std::path::PathBuf>,
        /// Write keys for only N devices, spread evenly over all of them (default: every
        /// device's key).
        #[arg(long, value_name = "N")]
        keys_limit: Option<u64>,
        /// Give the devices labels: `ring` r0..r9, `site` s0..s99, and `canary` on every
        /// hundredth (for label-filter benchmarks).
        #[arg(long)]
        labels: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (what `GET /openapi.json` serves) and
    /// exit, without starting a server.
    Openapi {
        /// The document of an ephemeral server, which adds the test-control routes.
        #[arg(long)]
        ephemeral: bool,
    },
    /// Manage models and their versions (artifact manifests).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Deploy a model version to the devices a target matches (every device of the org
    /// when no --device, --platform or --label is given). Prints the deployment's id.
    Deploy {
        /// The model's id.
        model_id: String,
        /// The version to deploy.
        version: String,
        /// A device's UUID or identifier; repeatable.
        #[arg(long = "device", value_name = "ID")]
        devices: Vec<String>,
        /// A platform (ios, android, python, ...); repeatable.
        #[arg(long = "platform", value_name = "PLATFORM")]
        platforms: Vec<String>,
        /// A label the devices must have, KEY=VALUE; repeatable, all must hold.
        #[arg(long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
        #[arg(long, default_value = "immediate")]
        activation_policy: String,
        #[arg(long, default_value = "managed")]
        delivery_mode: String,
        /// The org whose devices and model it is.
        #[arg(long, default_value = "org_demo")]
        org: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Inspect deployments.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// Write a consistent copy of the database to a new file, safe while a server runs,
    /// with the hosted model files its rows name: from an artifact directory into
    /// `OUT-NAME-artifacts` beside the copy (where a server on the copy looks by default),
    /// hard-linked where possible; files in an S3 bucket stay there (it is shared).
    Backup {
        /// Where to write the copy; must not exist yet.
        out: std::path::PathBuf,
        /// The artifact directory or s3://BUCKET/PREFIX the server uses (`devreg serve
        /// --artifacts`; by default the directory beside the database).
        #[arg(long, env = "DEVREG_ARTIFACTS", value_name = "DIR|s3://BUCKET/PREFIX")]
        artifacts: Option<std::path::PathBuf>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Copy a SQLite database (a server may go on running on it) into an empty PostgreSQL
    /// database: every table, keys and tokens as their digests. Refuses a target that
    /// holds orgs, devices, keys or events; prints each table's rows; verifies every
    /// table's count at the end.
    Migrate {
        /// The SQLite database file.
        #[arg(long, value_name = "FILE")]
        from: String,
        /// The PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.
        #[arg(long, value_name = "URL")]
        to: String,
        /// The SQLite server's artifact directory or s3://BUCKET/PREFIX (by default the
        /// directory beside --from): checked to hold every hosted file the rows name, and
        /// named in what the PostgreSQL servers must be started with. Files are not copied.
        #[arg(long, env = "DEVREG_ARTIFACTS", value_name = "DIR|s3://BUCKET/PREFIX")]
        artifacts: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a bootstrap token (edg_bt_…) and print it once: an app trades it at POST
    /// /api/v1/device-auth/bootstrap for a device's access and refresh tokens.
    Bootstrap {
        /// The org whose devices it bootstraps.
        #[arg(long)]
        org: String,
        /// Seconds until it expires (1 to 2592000).
        #[arg(long, default_value_t = crate::domain::BootstrapMint::DEFAULT_TTL_SECONDS)]
        ttl: u32,
        /// How many devices it may bootstrap.
        #[arg(long, default_value_t = 1)]
        max_uses: u32,
        #[command(flatten)]
        db: DbArg,
    },
}

/// The database an operator command works on.
#[derive(Debug, clap::Args)]
pub struct DbArg {
    /// SQLite database file (the one `devreg serve --db` uses).
    #[arg(long, env = "DEVREG_DB", default_value = "devreg.db")]
    pub db: String,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an org with a secret key and a publishable key, and print both once.
    Create {
        /// The org's id, such as org_acme: 1 to 64 characters [A-Za-z0-9_-].
        name: String,
        /// Create the database file if it does not exist yet (as `serve` would, but
        /// without org_demo). Without it a missing file is an error, so a mistyped --db
        /// does not make a new, empty database.
        #[arg(long)]
        create: bool,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Add a version of a model (and the model, if the org has none of that id): its
    /// download URL, format, size and SHA-256, the latter two read from --file if given.
    Add {
        /// The model's id.
        model_id: String,
        #[arg(long)]
        version: String,
        /// Where devices download the artifact (devreg stores the manifest, not the file).
        #[arg(long)]
        url: String,
        /// A local copy of the artifact, to read its size and SHA-256 from.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// The artifact's size in bytes (without --file).
        #[arg(long)]
        size: Option<u64>,
        /// The artifact's SHA-256, 64 hex digits (without --file).
        #[arg(long)]
        sha256: Option<String>,
        /// onnx, tflite, coreml, gguf, ...
        #[arg(long, default_value = "onnx")]
        format: String,
        /// The model's name, for people, when the model is new.
        #[arg(long)]
        name: Option<String>,
        /// The org whose model it is.
        #[arg(long, default_value = "org_demo")]
        org: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Delete a model version (--version), or a model with all its versions; refused while
    /// an active deployment uses it. Cancelled deployments of what it deletes go with it.
    Rm {
        /// The model's id, or its name.
        model: String,
        /// Only this version.
        #[arg(long)]
        version: Option<String>,
        #[arg(long, default_value = "org_demo")]
        org: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Publish local files as a version devreg hosts (issue 26): stored by SHA-256 in the
    /// artifact directory, the version visible once every file is; devices download them
    /// from devreg. The model is made if the org has none of that id or name.
    Push {
        /// The version's files (their names are their paths in the version).
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// The model's id or name.
        #[arg(long)]
        model: String,
        #[arg(long)]
        version: String,
        /// onnx, tflite, coreml, gguf, ...; by default the first file's extension.
        #[arg(long)]
        format: Option<String>,
        #[arg(long, default_value = "org_demo")]
        org: String,
        /// The artifact directory or `s3://bucket/prefix` that `devreg serve --artifacts`
        /// uses (by default the directory beside the database).
        #[arg(long, env = "DEVREG_ARTIFACTS", value_name = "DIR|s3://BUCKET/PREFIX")]
        artifacts: Option<std::path::PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List an org's devices, oldest first: id, identifier, platform, status, last seen.
    List {
        /// The org whose devices these are.
        #[arg(long, default_value = "org_demo")]
        org: String,
        /// Most devices to print.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Start after this device id (the last line of the previous page).
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Show one device in full, by its id or identifier.
    Show {
        device: String,
        /// The org whose devices these are.
        #[arg(long, default_value = "org_demo")]
        org: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Delete a device and everything of it (keys, labels, round participation); its
    /// identifier may be registered again.
    Delete {
        device: String,
        /// The org whose devices these are.
        #[arg(long, default_value = "org_demo")]
        org: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Issue a new key for a device, print it once, and revoke its old keys.
    Rekey {
        device: String,
        /// The org whose devices these are.
        #[arg(long, default_value = "org_demo")]
        org: String,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Show a deployment and its rollout: targeted, synced, active, failed.
    Show {
        /// The deployment's id, as `devreg deploy` printed it.
        id: String,
        /// Print the deployment as the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OrgKeyKind {
    /// edg_live_…: everything within the org.
    Secret,
    /// oct_pub_live_…: register and heartbeat devices; safe to ship inside an app.
    Publishable,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key for an org and print it once.
    Create {
        /// The org's id.
        #[arg(long)]
        org: String,
        #[arg(long, value_enum)]
        kind: OrgKeyKind,
        #[command(flatten)]
        db: DbArg,
    },
    /// Revoke a key (org or device key), named by its id, its prefix as `key list` shows
    /// it, or the whole key. Requests with it get 401 from then on.
    Revoke {
        key_prefix_or_id: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// List org keys: id, org, kind, prefix, created, revoked. Never the keys themselves.
    List {
        /// Only this org's keys.
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
}

/// `serve --help`'s options under headings, in the order an operator meets them: where
/// it listens, where it keeps data, who may call it, how devices are seen, the limits,
/// then testing and logging. Every option of `serve` is in exactly one group (a test
/// checks); within a group they show in this order.
pub const SERVE_HEADINGS: &[(&str, &[&str])] = &[
    (
        "Network",
        &[
            "bind",
            "cors_origins",
            "trust_proxy_headers",
            "workers",
            "body_timeout",
        ],
    ),
    (
        "Storage",
        &[
            "db",
            "read_connections",
            "event_retention",
            "telemetry_per_device",
            "telemetry_per_org",
            "artifacts",
        ],
    ),
    (
        "Keys and registration",
        &[
            "secret_key",
            "publishable_key",
            "open_registration",
            "access_token_ttl",
            "refresh_token_ttl",
        ],
    ),
    (
        "Devices",
        &[
            "heartbeat_interval",
            "stale_after_intervals",
            "offline_after_intervals",
            "sweep_interval",
            "event_keepalive",
            "max_streams_per_key",
            "metrics_token",
        ],
    ),
    (
        "Limits",
        &[
            "rate_limit_device",
            "rate_limit_device_burst",
            "rate_limit_publishable",
            "rate_limit_publishable_burst",
            "rate_limit_publishable_register",
            "rate_limit_publishable_register_burst",
            "rate_limit_secret",
            "rate_limit_secret_burst",
            "rate_limit_anonymous",
            "rate_limit_anonymous_burst",
            "max_devices_per_org",
            "max_capabilities_bytes",
            "max_metadata_bytes",
            "max_metrics_bytes",
            "upload_part_bytes",
            "upload_max_bytes",
            "uploads_per_device",
            "uploads_per_round",
            "upload_abandon_after",
            "artifact_max_bytes",
            "artifact_quota_bytes",
            "artifact_upload_abandon_after",
        ],
    ),
    (
        "Testing",
        &[
            "ephemeral",
            "seed",
            "exit_on_stdin_close",
            "journal_entries",
        ],
    ),
    // Global options (every command has them): clap lists them after `serve`'s own.
    ("Logging", &["log_level", "log_format"]),
];

impl Cli {
    /// The command line as `devreg --help` shows it: clap's, with `serve`'s options
    /// grouped under [`SERVE_HEADINGS`].
    pub fn arranged() -> clap::Command {
        let mut order = 0;
        let mut heading = |command: clap::Command, id: &str, group: &'static str| {
            order += 1;
            let order = order;
            command.mut_arg(id, |arg| arg.help_heading(group).display_order(order))
        };
        let mut cli = Cli::command();
        let mut serve = cli
            .find_subcommand("serve")
            .expect("devreg has a serve command")
            .clone();
        for (group, ids) in SERVE_HEADINGS {
            for id in *ids {
                // The logging options are global: they are the top-level command's.
                if serve.get_arguments().any(|a| a.get_id() == *id) {
                    serve = heading(serve, id, group);
                } else {
                    cli = heading(cli, id, group);
                }
            }
        }
        cli.mut_subcommand("serve", |_| serve)
    }

    /// Parses the process's arguments (exiting with clap's message on bad ones). What
    /// `serve --ephemeral` implies is `Config::resolve`'s, as for the library.
    pub fn parse_args() -> Cli {
        let matches = Cli::arranged().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let (Command::Serve(config), Some(("serve", serve))) =
            (&mut cli.command, matches.subcommand())
        {
            config.note_rate_limits_given(serve);
        }
        cli
    }
}

/// Runs a parsed command line; the error is a sentence for the operator.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(config) => serve(config),
        Command::Seed {
            devices,
            org,
            prefix,
            keys_out,
            keys_limit,
            labels,
            db,
        } => {
            let db = open(&db)?;
            // Before the keys file is created, so a refused seed leaves no empty file.
            admin::require_org(&db, &org).map_err(|e| e.to_string())?;
            let mut sink: Box<dyn Write> = match &keys_out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::sink()),
            };
            admin::seed_devices(
                &db,
                &org,
                &prefix,
                devices,
                &mut sink,
                keys_limit.unwrap_or(u64::MAX),
                labels,
            )
            .map_err(|e| e.to_string())?;
            sink.flush()
                .map_err(|e| format!("writing keys failed: {e}"))?;
            Ok(())
        }
        Command::Device(command) => device_command(command),
        Command::Openapi { ephemeral } => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", crate::openapi::json(ephemeral))
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write the document to stdout: {e}"))
        }
        Command::Model(ModelCommand::Add {
            model_id,
            version,
            url,
            file,
            size,
            sha256,
            format,
            name,
            org,
            db,
        }) => {
            let added = admin::add_model_version(
                &open(&db)?,
                &admin::VersionToAdd {
                    org: &org,
                    model_id: &model_id,
                    name: name.as_deref(),
                    version: &version,
                    format: &format,
                    download_url: &url,
                    file: file.as_deref(),
                    size,
                    sha256: sha256.as_deref(),
                },
            )
            .map_err(|e| e.to_string())?;
            println!(
                "Added {} {} to org {org}: {} bytes, sha256 {}, artifact {}.",
                added.model_id, added.version, added.total_bytes, added.sha256, added.artifact_id
            );
            println!(
                "Deploy it with `devreg deploy {} {}`.",
                added.model_id, added.version
            );
            Ok(())
        }
        Command::Model(ModelCommand::Rm {
            model,
            version,
            org,
            db,
        }) => {
            let deleted = admin::remove_model(&open(&db)?, &org, &model, version.as_deref())
                .map_err(|e| e.to_string())?;
            println!(
                "Deleted {} version(s) {} of model {} from org {org}.",
                deleted.versions.len(),
                deleted.versions.join(", "),
                deleted.model_id
            );
            if version.is_none() {
                println!("Deleted model {}.", deleted.model_id);
            }
            Ok(())
        }
        Command::Model(ModelCommand::Push {
            files,
            model,
            version,
            format,
            org,
            artifacts,
            quiet,
            db,
        }) => model_push(
            &open(&db)?,
            artifacts.as_deref(),
            &db.db,
            &crate::artifacts::push::Push {
                org: &org,
                model: &model,
                version: &version,
                format: format.as_deref(),
                files: &files,
            },
            quiet,
        ),
        Command::Deploy {
            model_id,
            version,
            devices,
            platforms,
            labels,
            activation_policy,
            delivery_mode,
            org,
            db,
        } => {
            let (deployment, rollout) = admin::deploy(
                &open(&db)?,
                &admin::DeployRequest {
                    org: &org,
                    model_id: &model_id,
                    version: &version,
                    devices: &devices,
                    platforms: &platforms,
                    labels: &labels,
                    activation_policy: &activation_policy,
                    delivery_mode: &delivery_mode,
                },
            )
            .map_err(|e| e.to_string())?;
            println!(
                "Deployed {model_id} {version} to {} device{} of org {org} (more that match \
                 later get it too).",
                rollout.targeted,
                if rollout.targeted == 1 { "" } else { "s" }
            );
            println!("deployment {}", deployment.id);
            Ok(())
        }
        Command::Deployment(DeploymentCommand::Show { id, json, db }) => {
            let (d, r) = admin::show_deployment(&open(&db)?, &id).map_err(|e| e.to_string())?;
            if json {
                let body = crate::store::deployments::View::of(&d, r);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&body).map_err(|e| e.to_string())?
                );
                return Ok(());
            }
            println!("deployment  {}", d.id);
            println!("org         {}", d.org_id);
            println!("model       {} {}", d.model_id, d.version);
            println!("status      {}", d.status);
            println!(
                "target      devices={} platforms={} labels={}",
                d.target_devices, d.target_platforms, d.target_labels
            );
            println!(
                "policies    activation={} delivery={}",
                d.activation_policy, d.delivery_mode
            );
            println!("created     {}", d.created_at.to_rfc3339());
            if let Some(at) = d.cancelled_at {
                println!("cancelled   {}", at.to_rfc3339());
            }
            println!(
                "rollout     targeted {}  synced {}  active {}  failed {}",
                r.targeted, r.synced, r.active, r.failed
            );
            Ok(())
        }
        Command::Migrate {
            from,
            to,
            artifacts,
        } => {
            crate::store::migrate::migrate(&from, &to, &mut |line| println!("{line}"))
                .map_err(|e| e.to_string())?;
            let store = crate::artifacts::Artifacts::open_location(artifacts.as_deref(), &from)?;
            let digests = Db::open_existing(&to, 1)
                .and_then(|copy| copy.read_sync(crate::store::artifacts::digests_in_use))
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                crate::artifacts::carry::after_migrate(&store, &digests)?
            );
            Ok(())
        }
        Command::Backup { out, artifacts, db } => {
            crate::store::backup(&db.db, &out).map_err(|e| e.to_string())?;
            println!("Backed up {} to {}.", db.db, out.display());
            let store = crate::artifacts::Artifacts::open_location(artifacts.as_deref(), &db.db)?;
            let digests = Db::open_existing(&out.to_string_lossy(), 1)
                .and_then(|copy| copy.read_sync(crate::store::artifacts::digests_in_use))
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                crate::artifacts::carry::back_up(&store, &out, &digests)?
            );
            Ok(())
        }
        Command::Org(OrgCommand::Create { name, create, db }) => {
            let db_handle = if create {
                Db::open(&db.db, 1).map_err(|e| e.to_string())?
            } else {
                open(&db)?
            };
            let keys = admin::create_org(&db_handle, &name).map_err(|e| e.to_string())?;
            print_org_keys(&keys, &format!("Created org {}.", keys.org_id), &db.db);
            Ok(())
        }
        Command::Key(KeyCommand::Create { org, kind, db }) => {
            let kind = match kind {
                OrgKeyKind::Secret => KeyKind::Secret,
                OrgKeyKind::Publishable => KeyKind::Publishable,
            };
            let key = admin::create_key(&open(&db)?, &org, kind).map_err(|e| e.to_string())?;
            println!(
                "Created a {} key for org {org}. It is shown this once:",
                kind.as_str()
            );
            println!("{}", key.expose());
            Ok(())
        }
        Command::Token(TokenCommand::Bootstrap {
            org,
            ttl,
            max_uses,
            db,
        }) => {
            let mint =
                crate::domain::BootstrapMint::new(Some(ttl), Some(max_uses)).map_err(|why| {
                    why.replace("ttl_seconds", "--ttl")
                        .replace("max_uses", "--max-uses")
                })?;
            let db = open(&db)?;
            admin::require_org(&db, &org).map_err(|e| e.to_string())?;
            let now = crate::domain::now();
            let minted = db
                .write_sync(|tx| crate::store::tokens::mint_bootstrap(tx, &org, &mint, now))
                .map_err(|e| e.to_string())?;
            println!(
                "Minted a bootstrap token for org {org} ({} use{}, expires {}). It is \
                 shown this once:",
                mint.max_uses,
                if mint.max_uses == 1 { "" } else { "s" },
                minted.expires_at.to_rfc3339()
            );
            println!("{}", minted.token.expose());
            Ok(())
        }
        Command::Key(KeyCommand::Revoke {
            key_prefix_or_id,
            db,
        }) => {
            let key =
                admin::revoke_key(&open(&db)?, &key_prefix_or_id).map_err(|e| e.to_string())?;
            println!(
                "Revoked {} key {} ({}…) of org {}.",
                key.kind, key.id, key.prefix, key.org_id
            );
            Ok(())
        }
        Command::Key(KeyCommand::List { org, db }) => {
            let keys = open(&db)?
                .read_sync(|conn| crate::store::keys::list_org_keys(conn, org.as_deref()))
                .map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{:<38} {:<20} {:<12} {:<22} {:<21} REVOKED",
                "ID", "ORG", "KIND", "PREFIX", "CREATED"
            );
            for k in keys {
                let revoked = k
                    .revoked_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "{:<38} {:<20} {:<12} {:<22} {:<21} {revoked}",
                    k.id,
                    k.org_id,
                    k.kind,
                    format!("{}…", k.prefix),
                    k.created_at.to_rfc3339()
                );
            }
            Ok(())
        }
    }
}

fn device_command(command: DeviceCommand) -> Result<(), String> {
    let text = |e: admin::AdminError| e.to_string();
    match command {
        DeviceCommand::List {
            org,
            limit,
            after,
            db,
        } => {
            if !(1..=1000).contains(&limit) {
                return Err(format!("--limit must be from 1 to 1000, got {limit}"));
            }
            let (devices, total) =
                admin::list_devices(&open(&db)?, &org, limit, after.as_deref()).map_err(text)?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{:<36} {:<32} {:<10} {:<9} LAST SEEN",
                "ID", "DEVICE", "PLATFORM", "STATUS"
            );
            for d in &devices {
                let seen = d
                    .last_heartbeat
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into());
                let _ = writeln!(
                    out,
                    "{:<36} {:<32} {:<10} {:<9} {seen}",
                    d.id,
                    d.identifier.as_str(),
                    d.platform.as_str(),
                    d.status.as_str()
                );
            }
            let _ = writeln!(out, "{} of {total} devices in org {org}", devices.len());
            Ok(())
        }
        DeviceCommand::Show { device, org, db } => {
            let shown = admin::show_device(&open(&db)?, &org, &device).map_err(text)?;
            let d = &shown.device;
            println!("id:             {}", d.id);
            println!("device_id:      {}", d.identifier.as_str());
            println!("org_id:         {}", d.org_id);
            println!("platform:       {}", d.platform.as_str());
            println!("status:         {}", d.status.as_str());
            println!("labels:         {}", shown.labels.to_json());
            println!("capabilities:   {}", d.capabilities.get());
            println!("metadata:       {}", d.metadata.get());
            println!(
                "last_heartbeat: {}",
                d.last_heartbeat
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "never".into())
            );
            println!("created_at:     {}", d.created_at.to_rfc3339());
            println!("updated_at:     {}", d.updated_at.to_rfc3339());
            Ok(())
        }
        DeviceCommand::Delete { device, org, db } => {
            let gone = admin::delete_device(&open(&db)?, &org, &device).map_err(text)?;
            println!(
                "Deleted device {} ({}) of org {org}, with its keys and labels.",
                gone.identifier.as_str(),
                gone.id
            );
            Ok(())
        }
        DeviceCommand::Rekey { device, org, db } => {
            let (d, key) = admin::rekey_device(&open(&db)?, &org, &device).map_err(text)?;
            println!(
                "Issued a new key for device {} ({}) of org {org}; its old keys are revoked. \
                 It is shown this once:",
                d.identifier.as_str(),
                d.id
            );
            println!("{}", key.expose());
            Ok(())
        }
    }
}

/// `devreg model push`: the files into the artifact directory `dir`, with a progress bar
/// over their bytes unless `quiet`.
fn model_push(
    db: &Db,
    location: Option<&std::path::Path>,
    database: &str,
    push: &crate::artifacts::push::Push<'_>,
    quiet: bool,
) -> Result<(), String> {
    let store = crate::artifacts::Artifacts::open_location(location, database)?;
    let total: u64 = push
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()
        .map_err(|e| format!("cannot read a file to push: {e}"))?;
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .map_err(|e| e.to_string())?,
    );
    let pushed = crate::artifacts::push::push(db, &store, push, &mut |n| bar.inc(n));
    bar.finish_and_clear();
    let version = pushed?;
    println!(
        "Published {} {} to org {}: {} bytes in {} file(s), sha256 {}, artifact {}.",
        version.model_id,
        version.version,
        push.org,
        version.total_bytes,
        push.files.len(),
        version.sha256,
        version.artifact_id
    );
    println!(
        "Deploy it with `devreg deploy {} {}`.",
        version.model_id, version.version
    );
    Ok(())
}

/// Opens the database of an operator command: one that exists already.
fn open(db: &DbArg) -> Result<Db, String> {
    Db::open_existing(&db.db, 1).map_err(|e| e.to_string())
}

/// Prints an org's new keys with what to do about them: store them (a file database
/// keeps only their digests), or know they go with the process (in memory), and how to
/// get another key if one is lost.
fn print_org_keys(keys: &OrgKeys, headline: &str, db: &str) {
    let shown = shown_db(db);
    if db == crate::store::MEMORY {
        println!(
            "{headline} The database is in memory: these keys, like everything in it, last \
             until this server stops."
        );
    } else {
        println!("{headline} Its keys are shown this once and never again; store them now.");
    }
    println!("  org_id:          {}", keys.org_id);
    println!(
        "  secret key:      {}  (list, retrieve, register, heartbeat)",
        keys.secret_key.expose()
    );
    println!(
        "  publishable key: {}  (register and heartbeat; safe inside an app)",
        keys.publishable_key.expose()
    );
    if db != crate::store::MEMORY {
        println!(
            "  Lost one? `devreg key create --org {} --kind secret --db {shown}` (or --kind \
             publishable) makes a new one; `devreg key revoke PREFIX --db {shown}` retires the old.",
            keys.org_id
        );
        if shown != db {
            println!("  (with the database's password in place of ***)");
        }
    }
}

/// The `--db` value as messages, logs and stdout may show it: a PostgreSQL URL without
/// its password.
fn shown_db(db: &str) -> String {
    if crate::store::pg::is_url(db) {
        crate::store::pg::without_password(db)
    } else {
        db.to_owned()
    }
}

fn serve(mut config: Config) -> Result<(), String> {
    // `stop_on_signals` below drains on SIGTERM and SIGINT alike; actix's own handlers
    // would stop at once on SIGINT (Ctrl-C), dropping the requests in flight.
    config.handle_signals = false;
    // Taken before the database is opened, so a second server changes nothing in it.
    let lock = if config.ephemeral {
        None
    } else {
        ServeLock::acquire(&config.db).map_err(|e| e.to_string())?
    };
    actix_web::rt::System::new().block_on(async move {
        let server = Server::build(&config).map_err(|e| e.to_string())?;
        if let Some(lock) = &lock {
            lock.describe(Some(&format!("http://{}", server.addr())));
        }
        stop_on_signals(server.handle())?;
        let bootstrap = server.bootstrap();
        if config.ephemeral {
            print_ready_line(&server)?;
        } else if let Some(keys) = &bootstrap.created {
            println!(
                "================================================================================"
            );
            print_org_keys(
                keys,
                "First start on an empty database: created org org_demo.",
                &config.db,
            );
            if bootstrap.secret_preset || bootstrap.publishable_preset {
                println!(
                    "  (keys given with --secret-key / --publishable-key are the ones you set)"
                );
            }
            println!(
                "================================================================================"
            );
            let _ = std::io::stdout().flush();
        }
        log::info!(
            "devreg {} listening on http://{} (database {})",
            env!("CARGO_PKG_VERSION"),
            server.addr(),
            if config.ephemeral && !crate::store::pg::is_url(&config.db) {
                crate::store::MEMORY.to_owned()
            } else {
                shown_db(&config.db)
            }
        );
        if config.exit_on_stdin_close {
            stop_when_stdin_closes(server.handle());
        }
        let db = server.db().clone();
        server
            .run()
            .await
            .map_err(|e| format!("server failed: {e}"))?;
        // Stopped by SIGTERM/SIGINT after in-flight requests finished (or the shutdown
        // timeout passed): fold the WAL into the file so it alone is the database.
        db.checkpoint()
            .map_err(|e| format!("checkpoint at shutdown failed: {e}"))?;
        log::info!("devreg stopped");
        drop(lock);
        Ok(())
    })
}

/// What `serve --ephemeral` prints on stdout once its port is bound: one JSON line, and
/// nothing else ever, so a test runner in any language can read it and go.
#[derive(serde::Serialize)]
struct ReadyLine<'a> {
    url: String,
    org_id: &'a str,
    secret_key: &'a str,
    publishable_key: &'a str,
}

fn print_ready_line(server: &Server) -> Result<(), String> {
    let keys = server
        .bootstrap()
        .created
        .as_ref()
        .ok_or("an ephemeral server starts on an empty database")?;
    let line = serde_json::to_string(&ReadyLine {
        url: format!("http://{}", server.addr()),
        org_id: keys.org_id.as_str(),
        secret_key: keys.secret_key.expose(),
        publishable_key: keys.publishable_key.expose(),
    })
    .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write the ready line to stdout: {e}"))
}

/// Stops the server gracefully on SIGTERM or SIGINT. Installed before anything announces
/// the server: actix installs its own handlers only once the server runs, and a signal
/// sent right after the ready line would otherwise kill the process.
fn stop_on_signals(handle: actix_web::dev::ServerHandle) -> Result<(), String> {
    #[cfg(unix)]
    {
        use actix_web::rt::signal::unix::{SignalKind, signal};
        for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
            let mut signals = signal(kind).map_err(|e| format!("cannot handle signals: {e}"))?;
            let handle = handle.clone();
            actix_web::rt::spawn(async move {
                if signals.recv().await.is_some() {
                    handle.stop(true).await;
                }
            });
        }
    }
    #[cfg(not(unix))]
    let _ = handle;
    Ok(())
}

/// Stops the server, gracefully, once standard input reaches its end (or fails): the
/// parent that held the pipe has exited or closed it.
fn stop_when_stdin_closes(handle: actix_web::dev::ServerHandle) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 1024];
        loop {
            match std::io::Read::read(&mut stdin, &mut buf) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        log::info!("standard input closed: stopping");
        // The stop command is sent at once; the returned future only waits for it.
        drop(handle.stop(true));
    });
}
