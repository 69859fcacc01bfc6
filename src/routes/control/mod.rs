//! Test control, served only in ephemeral mode.

pub mod reset;
