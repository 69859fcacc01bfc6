//! The event log: every change to a device, key or round, oldest first, as a page
//! (`GET /api/v1/events`) or as Server-Sent Events that resume where a reader left off
//! (`GET /api/v1/events/stream`). Secret key only; an org sees only its own events.

pub mod list;
pub mod stream;

use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Credential;
use crate::error::ApiError;
use crate::routes::{device_not_found, quoted, same_org};
use crate::store::{devices, events};

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

/// What a reader asked for, parsed.
#[derive(Clone)]
pub struct EventFilter {
    pub org_id: String,
    pub after: i64,
    pub limit: u32,
    pub kind: Option<&'static str>,
    /// The device's UUID.
    pub device_id: Option<String>,
    /// An identifier to resolve to a device's UUID.
    device_reference: Option<String>,
}

impl EventFilter {
    pub fn parse(
        credential: &Credential,
        params: EventParams,
        last_event_id: Option<&str>,
    ) -> Result<EventFilter, ApiError> {
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
        let (device_id, device_reference) = match params.device_id.filter(|d| !d.is_empty()) {
            None => (None, None),
            Some(text) => match uuid::Uuid::try_parse(&text) {
                Ok(uuid) => (Some(uuid.hyphenated().to_string()), None),
                Err(_) => (None, Some(text)),
            },
        };
        Ok(EventFilter {
            org_id: credential.org_id.as_str().to_owned(),
            after,
            limit,
            kind,
            device_id,
            device_reference,
        })
    }

    /// Resolves a device identifier to its UUID (404 when no such device), and refuses
    /// an `after` before the retained log (410, saying where it starts). On `conn`.
    pub fn check(&mut self, conn: &crate::store::Conn) -> Result<(), ApiError> {
        if let Some(reference) = self.device_reference.take() {
            let device = devices::find(conn, &self.org_id, &reference)?
                .ok_or_else(|| device_not_found(&reference))?;
            self.device_id = Some(device.id);
        }
        let trimmed = events::trimmed_through(conn, &self.org_id)?;
        if self.after < trimmed {
            return Err(ApiError::Gone(format!(
                "events of org {} up to seq {trimmed} are past retention, so the events after \
                 seq {} are not all kept; the retained log starts after seq {trimmed}: read \
                 from after={trimmed}",
                self.org_id, self.after
            )));
        }
        Ok(())
    }

    pub fn query(&self, after: i64, limit: u32) -> events::EventQuery<'_> {
        events::EventQuery {
            org_id: &self.org_id,
            after,
            limit,
            kind: self.kind,
            device_id: self.device_id.as_deref(),
        }
    }
}
