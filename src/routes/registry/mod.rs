//! The registry paths of the Node and browser SDKs: a model reference (its name or id and
//! a tag) resolved to the version to download and where. The same reads as
//! `routes/models/`, under these SDKs' paths and names.

pub mod pull;
pub mod resolve;
