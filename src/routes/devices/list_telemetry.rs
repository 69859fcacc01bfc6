//! `GET /api/v1/devices/{device_id}/telemetry`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{Limit, Timestamp};
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::AppState;
use crate::store::telemetry;

pub const ACCESS: Access = Access {
    action: "reading a device's telemetry",
    allows: &[Allow::Secret, Allow::Device],
    target: Target::PathDevice,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TelemetryQuery {
    /// Only events after this `seq` (the previous page's `next_after`). Default 0.
    #[param(schema_with = crate::schema::seq_schema, required = false)]
    after: Option<String>,
    #[param(schema_with = crate::schema::limit_schema, required = false)]
    limit: Option<String>,
    /// Only events of this type.
    #[param(required = false)]
    event_type: Option<String>,
}

/// One stored event.
#[derive(Serialize, ToSchema)]
struct TelemetryEvent<'a> {
    /// Arrival order; page with `after`.
    seq: i64,
    event_type: &'a str,
    /// When it happened, whole seconds.
    occurred_at: Timestamp,
    /// When it happened, Unix milliseconds.
    occurred_at_ms: i64,
    /// The OTLP resource's attributes, or the batch's `boot_id`.
    #[schema(value_type = Option<Object>)]
    resource: Option<&'a RawValue>,
    /// Everything else kept: `source` (`otlp`, `batch` or `inference`), `attributes`, `scope`,
    /// `severity`, `trace_id`, `span_id` (OTLP); `event_id`, `sequence_no`, `session_id`,
    /// `telemetry_class`, `model_id`, `model_version`, `payload` (batches); `model_id`,
    /// `version`, `modality`, `session_id`, `metrics` (inference events).
    #[serde(flatten)]
    body: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "device_id": "0190f5a0-0000-7000-8000-000000000001",
    "events": [{
        "seq": 17, "event_type": "inference.completed",
        "occurred_at": "2026-02-23T16:30:00Z", "occurred_at_ms": 1771864200123_i64,
        "resource": {"service.name": "octomil", "octomil.device.id": "laptop-001"},
        "source": "otlp", "scope": "octomil.inference", "severity": "INFO",
        "attributes": {"inference.total_tokens": 12}
    }],
    "next_after": null
})))]
struct TelemetryPage<'a> {
    /// The device's UUID.
    device_id: &'a str,
    events: Vec<TelemetryEvent<'a>>,
    /// The `after` of the next page; null when this page is the last so far.
    next_after: Option<i64>,
}

/// List a device's telemetry
///
/// Stored events, oldest first, after `after`, optionally of one `event_type`. Retention
/// keeps the newest events per device and per org (see `devreg serve --help`).
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "telemetry",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001"),
        TelemetryQuery),
    responses(
        (status = 200, description = "A page of events.", body = TelemetryPage),
    ),
)]
pub async fn list_telemetry(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let query: TelemetryQuery = parse_query(&req)?;
    let limit = Limit::parse(query.limit.as_deref()).map_err(ApiError::BadRequest)?;
    let after = match query.after.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "after must be an integer of 0 or more, got {text:?}"
                ))
            })?,
    };
    let page = telemetry::EventsPage {
        after,
        limit: limit.get(),
        event_type: query.event_type.filter(|t| !t.is_empty()),
    };
    let (device_id, events) = state
        .db
        .read(move |conn| telemetry::device_events(conn, &acting, &page))
        .await?;
    let full = events.len() == limit.get() as usize;
    let next_after = events.last().filter(|_| full).map(|e| e.seq);
    let mut page = Vec::with_capacity(events.len());
    for event in &events {
        let resource = match event.resource.as_deref() {
            Some(text) => Some(
                serde_json::from_str::<&RawValue>(text)
                    .map_err(|e| ApiError::Internal(format!("stored resource: {e}")))?,
            ),
            None => None,
        };
        let body = serde_json::from_str(&event.body)
            .map_err(|e| ApiError::Internal(format!("stored event body: {e}")))?;
        page.push(TelemetryEvent {
            seq: event.seq,
            event_type: &event.event_type,
            occurred_at: Timestamp(event.at_ms.div_euclid(1000)),
            occurred_at_ms: event.at_ms,
            resource,
            body,
        });
    }
    Ok(HttpResponse::Ok().json(TelemetryPage {
        device_id: &device_id,
        events: page,
        next_after,
    }))
}
