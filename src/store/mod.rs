//! Storage: synchronous SQL over SQLite (rusqlite) or PostgreSQL, no HTTP types.
//!
//! Two kinds of module live here. `engine/` is the plumbing every store function runs
//! on: [`Db`] (open, the read and write seams, group commit, checkpoints, the serve
//! lock), [`Conn`] with the two dialects, PostgreSQL's pool and schema, and `devreg
//! migrate`. The files beside it hold one resource's SQL each (`devices`, `deployments`,
//! `desired`, `events`, `federation`, `keys`, `models`, `orgs`, `rounds`, `telemetry`,
//! `tokens`): plain functions over a [`Conn`] that handlers and the command line run
//! through [`Db`]. Resources use the engine; the engine uses none of them. The engine's public names are re-exported here, so callers write
//! `store::Db`, `store::Conn`, `store::StoreError`, `store::pg::is_url`.

mod engine;

pub mod acting;
pub mod artifact_reclaim;
pub mod artifacts;
pub mod deployments;
pub mod desired;
pub mod device_groups;
pub mod device_settings;
pub mod devices;
pub mod events;
pub mod experiments;
pub mod federation;
// issue 27 (sdk3): the browser's federation paths and /training/weights.
pub mod federation_shapes;
pub mod keys;
pub mod models;
pub mod orgs;
pub mod readiness;
pub mod registry;
pub mod relaunch;
pub mod round_assignments;
pub mod rounds;
pub mod runtime;
pub mod telemetry;
pub mod tokens;
pub mod training_jobs;

pub use engine::{
    Conn, Db, Dialect, Failure, MEMORY, OnDuplicate, Param, Row, SCHEMA_VERSION, ServeLock,
    StoreError, backup, check_directory, migrate, pg,
};
