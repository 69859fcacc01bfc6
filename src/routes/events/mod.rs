//! The event log: every change to a device, key or round, oldest first, as a page
//! (`GET /api/v1/events`) or as Server-Sent Events that resume where a reader left off
//! (`GET /api/v1/events/stream`). Secret key only; an org sees only its own events.

pub mod hub;
pub mod list;
pub mod stream;

use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Credential;
use crate::error::ApiError;
use crate::routes::{device_not_found, quoted, same_org};
use crate::store::events::{self, DeviceFilter, Refusal};

/// The events query as sent: text, so a bad value's error can quote it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// The key's org (another org's is a 403); default the key's.
    #[param(required = false, example = "org_demo")]
    org_id: Option<String>,
    /// Only events after this seq (default 0: from the start of the retained log). The
    /// stream's `Last-Event-ID` header wins over it.
    #[param(schema_with = crate::schema::seq_schema, required = false, example = 0)]
    after: Option<String>,
    /// Most events to return (1 to 1000, default 100); the stream sends them all.
    #[param(schema_with = crate::schema::limit_schema, required = false)]
    limit: Option<String>,
    /// Only events of this type, such as `device.registered`.
    #[param(schema_with = event_type_schema, required = false)]
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Only events about this device: its UUID `id` (also for a deleted device), or the
    /// identifier of a device that exists.
    #[param(required = false)]
    device_id: Option<String>,
}

/// The `type` filter: one of the event types the log writes.
fn event_type_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    crate::schema::schema(serde_json::json!({
        "type": "string",
        "enum": crate::store::events::TYPES,
        "examples": ["device.connectivity_changed"],
    }))
}

/// What a reader asked for, parsed: `params`, with `last_event_id` (the stream's
/// `Last-Event-ID` header) winning over `after`.
pub fn parse_filter(
    credential: &Credential,
    params: EventParams,
    last_event_id: Option<&str>,
) -> Result<events::Filter, ApiError> {
    let bad = ApiError::BadRequest;
    same_org(credential, params.org_id.as_deref(), "read the events of")?;
    // `after` is checked even when Last-Event-ID, which wins over it, is sent.
    let after_param = match params.after.as_deref() {
        None => 0,
        Some(text) => text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            bad(format!(
                "after must be an integer of 0 or more (the seq of the last event read), got {}",
                quoted(text)
            ))
        })?,
    };
    let after = match last_event_id {
        Some(id) => id
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                bad(format!(
                    "the Last-Event-ID header must be the seq (an integer of 0 or more) of the \
                     last event received, got {}",
                    quoted(id)
                ))
            })?,
        None => after_param,
    };
    let limit = match params.limit.as_deref() {
        None => 100,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "limit must be an integer from 1 to 1000, got {}",
                    quoted(text)
                ))
            })?,
    };
    let kind = match params.kind.as_deref() {
        None => None,
        Some(text) => Some(
            events::TYPES
                .iter()
                .copied()
                .find(|t| *t == text)
                .ok_or_else(|| {
                    bad(format!(
                        "type must be one of {}, got {}",
                        events::TYPES.join(", "),
                        quoted(text)
                    ))
                })?,
        ),
    };
    let device =
        params
            .device_id
            .filter(|d| !d.is_empty())
            .map(|text| match uuid::Uuid::try_parse(&text) {
                Ok(uuid) => DeviceFilter::Id(uuid.hyphenated().to_string()),
                Err(_) => DeviceFilter::Named(text),
            });
    Ok(events::Filter {
        org_id: credential.org_id.as_str().to_owned(),
        after,
        limit,
        kind,
        device,
    })
}

/// The answer for each refusal of a read of the log.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoDevice(reference) => device_not_found(&reference),
            Refusal::PastRetention {
                org_id,
                after,
                trimmed_through,
            } => ApiError::Gone(format!(
                "events of org {org_id} up to seq {trimmed_through} are past retention, so the \
                 events after seq {after} are not all kept; the retained log starts after seq \
                 {trimmed_through}: read from after={trimmed_through}"
            )),
            Refusal::Store(err) => err.into(),
        }
    }
}
