//! `POST /api/v1/experiments/{experiment_id}/events`

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::{JsonObject, Timestamp};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::experiments::{self, Report};

pub const ACCESS: Access = Access {
    action: "reporting to an experiment",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::BodyDevice,
};

/// An event or metric, as the iOS SDK's `trackMetric` sends it (a `TrackingEvent`).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "name": "accuracy",
    "properties": {"metric_name": "accuracy", "metric_value": "0.91", "device_id": "laptop-001"},
    "timestamp": "2026-11-25T20:57:33Z"
})))]
struct EventRequest {
    /// The event's name; a metric's name unless `properties.metric_name` says otherwise.
    name: String,
    /// `metric_name`, `metric_value` (a number, or a string holding one: iOS sends
    /// `String(Double)`), `device_id` (the device's identifier or UUID; empty or absent
    /// with a device credential: its own).
    properties: Option<JsonObject>,
    /// When it happened, RFC 3339.
    timestamp: Option<Timestamp>,
    /// The device, when not in `properties`.
    device_id: Option<String>,
}

/// A metric value sent as a number or as a string holding one.
fn metric_value(field: &str, value: Option<&Value>) -> Result<Option<f64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("{field} must be a number, got the string {s:?}"))
            }),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{field} must be a number, got {}",
            crate::domain::json_kind(other)
        ))),
    }
}

/// Report an experiment event
///
/// Stores a device's event or metric (iOS `trackMetric`, Android's event DTO) under the
/// variant the device is in while the experiment is active; results count it. Answers
/// `{"accepted": true, "variant_id"}`.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "experiments",
    params(("experiment_id" = String, Path, min_length = 1, description = "The experiment's id.")),
    request_body(content = EventRequest, description = "The event."),
    responses(
        (status = 200, description = "Stored.", body = Object,
            example = json!({"accepted": true, "variant_id": "treatment"})),
        (status = 404, description = "No such experiment in the key's org."),
    ),
)]
pub async fn report_event(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: Option<EventRequest> = parse_json_object(&body)?;
    let request = request.ok_or_else(|| {
        ApiError::BadRequest("name is required: the event's or metric's name".to_owned())
    })?;
    let properties = request.properties.map(|p| p.0).unwrap_or_default();
    let named = properties
        .get("device_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(request.device_id)
        .filter(|d| !d.is_empty());
    let acting = Acting { credential, named };
    let value = metric_value("properties.metric_value", properties.get("metric_value"))?;
    let name = properties
        .get("metric_name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map_or(request.name, str::to_owned);
    let report = Report {
        kind: if value.is_some() { "metric" } else { "event" },
        name,
        value,
        at: request.timestamp,
    };
    let (id, now) = (path.into_inner(), state.clock.now());
    let variant = state
        .db
        .write(move |tx| experiments::report(tx, &acting, &id, &report, now))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"accepted": true, "variant_id": variant})))
}
