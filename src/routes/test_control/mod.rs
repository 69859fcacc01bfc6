//! Test control, served only in ephemeral mode.

pub mod clock;
pub mod requests;
pub mod reset;
