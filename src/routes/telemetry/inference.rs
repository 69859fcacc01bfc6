//! `POST /api/v1/inference/events`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::telemetry::{self, NewEvent, key64};

pub const ACCESS: Access = Access {
    action: "sending telemetry",
    allows: &[Allow::Device, Allow::Publishable, Allow::Secret],
    target: Target::BodyDevice,
};

/// One streaming-inference event, as the Python SDK's `StreamingInferenceClient`
/// (python/octomil/inference.py:349-371) and Android's `InferenceEventRequest` send it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "device_id": "01a2147f-daeb-7763-909c-9e315a041b31",
    "model_id": "kbd-next-word", "version": "1.0.0", "modality": "text",
    "session_id": "5f1c0d2e9a8b4c7d8e9f0a1b2c3d4e5f",
    "event_type": "generation_completed", "timestamp_ms": 1795640253123_i64,
    "org_id": "org_demo",
    "metrics": {"ttfc_ms": 41.5, "total_chunks": 12, "total_duration_ms": 812.0,
        "throughput": 14.8}
})))]
struct InferenceEvent {
    /// The device (its UUID or identifier); with a device's key or token, ignored.
    device_id: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    model_id: String,
    version: Option<String>,
    /// `text`, `image`, `audio`, `video`.
    modality: Option<String>,
    /// The generation the event belongs to.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    session_id: String,
    /// `generation_started`, `generation_completed`, `generation_failed`, ...: stored as
    /// the telemetry type `inference.<event_type>`.
    #[schema(
        min_length = 1,
        max_length = 190,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    event_type: String,
    /// When it happened, Unix milliseconds; default when it arrived.
    timestamp_ms: Option<i64>,
    /// Informative only: the event goes to the key's org (the Python client sends
    /// `default` when it knows no org).
    #[allow(dead_code)]
    org_id: Option<String>,
    /// Numbers by name (`ttfc_ms`, `chunk_index`, `chunk_latency_ms`, `total_chunks`,
    /// `total_duration_ms`, `throughput`).
    #[schema(schema_with = metrics_schema)]
    metrics: Option<Map<String, Value>>,
}

/// `metrics`: an object of numbers (a null is ignored).
fn metrics_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    crate::schema::schema(json!({
        "type": ["object", "null"],
        "additionalProperties": {"type": ["number", "null"]},
    }))
}

/// Android's `InferenceEventResponse` requires `status` and `session_id`.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"status": "accepted", "session_id": "5f1c0d2e9a8b4c7d8e9f0a1b2c3d4e5f",
    "event_type": "inference.generation_completed", "duplicate": false})))]
#[schema(as = InferenceAccepted)]
struct Accepted<'a> {
    /// `accepted`, also for an event stored before.
    status: &'static str,
    session_id: &'a str,
    /// The telemetry type it is stored (and listed) as.
    event_type: String,
    /// The same event (session, type and time) was stored before; nothing changed.
    duplicate: bool,
}

fn field(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let chars = value.chars().count();
    if chars == 0 || chars > max || value.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{name} must be 1 to {max} characters without control characters, got {}",
            quoted(value)
        )));
    }
    Ok(())
}

/// The event as stored: its body keeps what was sent but the device and org.
fn stored(event: &InferenceEvent, now_ms: i64) -> Result<NewEvent, ApiError> {
    field("model_id", &event.model_id, 255)?;
    field("session_id", &event.session_id, 255)?;
    field("event_type", &event.event_type, 190)?;
    if let Some((name, value)) = event
        .metrics
        .iter()
        .flatten()
        .find(|(_, v)| !v.is_number() && !v.is_null())
    {
        return Err(ApiError::BadRequest(format!(
            "metrics.{name} must be a number, got {}",
            crate::domain::json_kind(value)
        )));
    }
    let at_ms = event.timestamp_ms.unwrap_or(now_ms);
    let mut body = Map::new();
    body.insert("source".to_owned(), json!("inference"));
    body.insert("model_id".to_owned(), json!(event.model_id));
    body.insert("session_id".to_owned(), json!(event.session_id));
    for (name, value) in [("version", &event.version), ("modality", &event.modality)] {
        if let Some(value) = value {
            body.insert(name.to_owned(), json!(value));
        }
    }
    if let Some(metrics) = &event.metrics {
        body.insert("metrics".to_owned(), Value::Object(metrics.clone()));
    }
    Ok(NewEvent {
        event_type: format!("inference.{}", event.event_type),
        at_ms,
        resource: None,
        event_key: Some(key64(&format!(
            "inference|{}|{}|{at_ms}",
            event.session_id, event.event_type
        ))),
        body: Value::Object(body).to_string(),
    })
}

/// Report an inference event
///
/// The streaming-inference events of the Python SDK (`StreamingInferenceClient`,
/// `_ApiClient.report_inference_event`) and Android: stored as the device's telemetry,
/// typed `inference.<event_type>`, listed by `GET /api/v1/devices/{device_id}/telemetry`.
/// The same event sent again (session, type and time) is stored once.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "telemetry",
    request_body(content = InferenceEvent, description = "The event."),
    responses((status = 200, description = "Stored (or stored before).", body = Accepted)),
)]
pub async fn report_inference_event(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: InferenceEvent = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest(
            "the request body must be an inference event: model_id, session_id, event_type"
                .to_owned(),
        )
    })?;
    let now = state.clock.now();
    let event = stored(&request, now.0 * 1000)?;
    let event_type = event.event_type.clone();
    let acting = Acting {
        credential,
        named: request.device_id.clone(),
    };
    let retention = state.telemetry_retention;
    let done = state
        .db
        .write(move |tx| telemetry::ingest_inference_event(tx, &acting, &event, retention, now))
        .await?;
    state.metrics.telemetry("inference", &done);
    Ok(HttpResponse::Ok().json(Accepted {
        status: "accepted",
        session_id: &request.session_id,
        event_type,
        duplicate: done.duplicates > 0,
    }))
}
