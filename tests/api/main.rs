//! The API tests: one binary, a fresh devreg per test, on a database of its own (in
//! memory, or on the PostgreSQL server `DEVREG_TEST_DB` names: tests/api/helpers.rs).

mod access;
mod cli;
mod clock;
mod console;
mod crash;
mod credentials;
mod device_loop;
mod device_scope;
mod errors;
mod events;
mod federation;
mod fleet;
mod hardening;
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
mod scaling;
mod sdk_replay;
mod telemetry;
mod testing_child;
mod testing_control;
mod testing_servers;
mod tokens;
