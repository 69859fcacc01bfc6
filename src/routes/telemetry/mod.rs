//! Device telemetry: OTLP/JSON logs (`POST /api/v2/telemetry/events`, every SDK's
//! reporter) and the Python device agent's batches (`POST /api/v1/telemetry/batches`).
//! The listing, `GET /api/v1/devices/{id}/telemetry`, is with the device's other routes.
//!
//! Both ingestion routes read their own bodies up to [`MAX_BODY_BYTES`] instead of the
//! server-wide 64 KiB: the agent's uploader sends up to 256 KB of events a batch.

pub mod batch;
pub mod inference;
pub mod otlp;

use actix_web::web;

use crate::error::ApiError;
use crate::store::devices::NotActing;
use crate::store::telemetry::Refusal;

/// The events of one batch may be 256 KiB (the Python uploader trims each batch's events,
/// measured one by one, to `_DEFAULT_MAX_BATCH_BYTES = 262_144`); the envelope around
/// them (ids, commas) gets 4 KiB more, so a batch the SDK trimmed to the limit is never
/// refused and retried forever.
pub const MAX_EVENTS_BYTES: usize = 256 * 1024;
pub const MAX_BODY_BYTES: usize = MAX_EVENTS_BYTES + 4 * 1024;

/// Reads a telemetry request's body: 413 beyond [`MAX_BODY_BYTES`].
pub async fn read_body(payload: web::Payload) -> Result<web::Bytes, ApiError> {
    let Ok(read) = payload.to_bytes_limited(MAX_BODY_BYTES).await else {
        return Err(ApiError::PayloadTooLarge(format!(
            "the telemetry request body is larger than the {} KiB limit (256 KiB of events \
             and 4 KiB of envelope); send fewer events per request",
            MAX_BODY_BYTES / 1024
        )));
    };
    read.map_err(|e| crate::body::unread(e, "the request body"))
}

/// The answer for telemetry refused: a batch from an org key naming no device is a 400
/// in the batch's own words. (A device the org does not know is not an error here: the
/// handlers answer it with the needs-registration signal.)
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotActing(NotActing::Unnamed) => {
                ApiError::BadRequest("device_id is required with an org's key".to_owned())
            }
            Refusal::NotActing(other) => other.into(),
            Refusal::Store(err) => err.into(),
        }
    }
}

/// Unix milliseconds of an RFC 3339 time, fractions and offsets accepted.
pub fn rfc3339_ms(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}
