//! devreg: a self-hosted, single-binary server for the Devices API of an on-device ML
//! platform: device registration and heartbeats, keys and device tokens, telemetry,
//! models and deployments, federated training rounds, an event log, and a web console.
//! Its data lives in one SQLite file that one process serves, or in a PostgreSQL
//! database that several instances serve together (`--db postgres://…`).
//!
//! [`app::Server::build`] starts exactly what `devreg serve` starts, from a
//! [`config::Config`]; tests and embedding programs use it the same way.

pub mod admin;
pub mod app;
pub mod artifacts;
pub mod auth;
pub mod body;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod federation;
pub mod journal;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod paths;
pub mod presented;
pub mod ratelimit;
pub mod routes;
pub mod schema;
pub mod seed;
pub mod state;
pub mod store;
pub mod sweep;
pub mod testing;
// issue 27 (sdk3): the legacy weight uploads' payloads.
pub mod weights;

pub use app::Server;
pub use config::Config;
