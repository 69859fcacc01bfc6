//! `GET /api/v1/events`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::{EventParams, parse_filter};
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{JsonObject, Timestamp};
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::AppState;
use crate::store::events::{self, Event};

pub const ACCESS: Access = Access {
    action: "reading events",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// One event of the log.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "seq": 42,
    "type": "device.connectivity_changed",
    "org_id": "org_demo",
    "device_id": "01a2147f-daeb-7763-909c-9e315a041b31",
    "at": "2026-02-23T16:30:00Z",
    "data": {"device_id": "laptop-001", "from": "online", "to": "stale",
             "last_heartbeat": "2026-02-23T16:27:00Z"}
})))]
pub struct EventBody {
    /// Strictly increasing within the org.
    #[schema(minimum = 1)]
    seq: i64,
    /// `device.registered`, `device.updated`, `device.deleted`, `device.key_issued`,
    /// `device.status_changed`, `device.connectivity_changed`, `round.started`,
    /// `round.joined`, `round.completed`, `round.cancelled`, ...
    #[serde(rename = "type")]
    kind: String,
    org_id: String,
    /// The UUID of the device it is about; null for round events without one.
    #[schema(format = Uuid)]
    device_id: Option<String>,
    at: Timestamp,
    /// What changed; its members depend on the type.
    data: JsonObject,
}

/// A page of an org's events.
#[derive(Serialize, ToSchema)]
struct EventPage {
    /// Oldest first.
    #[schema(value_type = Vec<EventBody>)]
    events: Vec<Event>,
    /// The seq to pass as `after` for the next page: the last event's, or the `after`
    /// given when there were none.
    next_after: i64,
}

/// List events
///
/// An org's events after `after`, oldest first, filtered by `type` and `device_id`. Page
/// with `after` = the previous page's `next_after`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "events", params(EventParams),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, description = "`after`, `limit` or `type` is invalid."),
        (status = 403, description = "Not the org's secret key, or `org_id` is another org."),
        (status = 404, description = "`device_id` names no device of the org."),
        (status = 410, description = "`after` is before the retained log; the message says \
            where it starts."),
    ),
)]
pub async fn list_events(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let filter = parse_filter(&credential, parse_query::<EventParams>(&req)?, None)?;
    let after = filter.after;
    let found = state
        .db
        .read(move |conn| events::read(conn, &filter))
        .await?;
    let page = EventPage {
        next_after: found.last().map_or(after, |e| e.seq),
        events: found,
    };
    Ok(HttpResponse::Ok().json(page))
}
