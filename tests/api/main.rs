//! The API tests: one binary, a fresh in-memory devreg per test.

mod access;
mod cli;
mod clock;
mod console;
mod crash;
mod credentials;
mod errors;
mod events;
mod fleet;
mod heartbeat;
mod helpers;
mod journal;
mod list;
mod modules;
mod openapi;
mod operations;
mod parsers;
mod persistence;
mod rate_limits;
mod reference_examples;
mod register;
mod retrieve;
mod rounds;
mod testing_child;
mod testing_control;
mod testing_servers;
