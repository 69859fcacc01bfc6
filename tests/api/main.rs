//! The API tests: one binary, a fresh in-memory devreg per test.

mod credentials;
mod errors;
mod heartbeat;
mod helpers;
mod list;
mod persistence;
mod rate_limits;
mod reference_examples;
mod register;
mod retrieve;
