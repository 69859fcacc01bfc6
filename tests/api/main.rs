//! The API tests: one binary, a fresh in-memory devreg per test.

mod credentials;
mod errors;
mod heartbeat;
mod helpers;
mod list;
mod persistence;
mod reference_examples;
mod register;
mod retrieve;
mod rounds;
