//! JSON the server keeps as it came and sends back as it is (a device's capabilities and
//! metadata, an artifact's files, a deployment's target), typed by what it holds so that
//! a response field says it, and the document with it.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON object held as the text it was stored as.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct RawObject<'a>(pub &'a RawValue);

/// A list of JSON objects held as the text it was stored as.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct RawObjectList<'a>(pub &'a RawValue);

/// A device's labels held as the text they were stored as.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct RawLabels(pub Box<RawValue>);

/// A JSON object built for a response.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct ObjectValue(pub Value);
