//! `POST /api/v1/telemetry/batches`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::otlp::NEEDS_REGISTRATION_HEADER;
use super::{read_body, rfc3339_ms};
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::devices::NotActing;
use crate::store::telemetry::{self, BatchOutcome, Ingested, NewEvent, Refusal, key64};

pub const ACCESS: Access = Access {
    action: "sending telemetry",
    allows: &[Allow::Device, Allow::Publishable, Allow::Secret],
    target: Target::BodyDevice,
};

/// Most events one batch may carry (the Python uploader's batch size).
pub const MAX_EVENTS: usize = 100;

/// A batch of the Python device agent's `TelemetryUploader` (telemetry_uploader.py).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "device_id": "0190f5a0-0000-7000-8000-000000000001",
    "boot_id": "5f1c0d2e9a8b4c7d",
    "batch_id": "a3c1e2f4b5d6478899aabbccddeeff00",
    "first_seq": 1,
    "last_seq": 1,
    "events": [{
        "event_id": "e0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5",
        "sequence_no": 1,
        "event_type": "artifact.download_started",
        "telemetry_class": "IMPORTANT",
        "occurred_at": "2026-02-23T16:30:00.123456+00:00",
        "model_id": "kbd",
        "model_version": "1.0.0",
        "payload_json": "{\"artifact_id\": \"a1\"}"
    }]
})))]
struct BatchRequest {
    /// The device: with a device's key or token, ignored; otherwise its UUID or identifier.
    device_id: Option<String>,
    boot_id: Option<String>,
    /// A batch sent again with the same id is stored once and acknowledged the same.
    #[schema(min_length = 1)]
    batch_id: String,
    #[allow(dead_code)]
    first_seq: Option<i64>,
    /// Acknowledged as `ackedThroughSeq` (the largest `sequence_no` if absent).
    last_seq: Option<i64>,
    /// At most 100.
    events: Vec<BatchEvent>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct BatchEvent {
    /// Events dedupe by it: the uploader resends failed events under a new batch_id.
    #[schema(min_length = 1)]
    event_id: String,
    #[allow(dead_code)]
    device_id: Option<String>,
    boot_id: Option<String>,
    session_id: Option<String>,
    sequence_no: Option<i64>,
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    event_type: String,
    /// `MUST_KEEP`, `IMPORTANT` or `BEST_EFFORT` in the SDK; kept as sent.
    telemetry_class: Option<String>,
    /// RFC 3339; fractions and offsets accepted. Default: when it arrived.
    #[schema(format = DateTime)]
    occurred_at: Option<String>,
    model_id: Option<String>,
    model_version: Option<String>,
    /// JSON text (the SDK's); kept parsed when it is valid JSON.
    payload_json: Option<String>,
    /// A JSON value, for senders that do not encode it as text.
    payload: Option<Value>,
}

#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "ackedThroughSeq": 3, "batch_id": "a3c1e2f4b5d6478899aabbccddeeff00",
    "accepted": 3, "duplicates": 0, "duplicate_batch": false
})))]
struct BatchAck<'a> {
    /// The SDK's cursor moves to it.
    #[serde(rename = "ackedThroughSeq")]
    acked_through_seq: Option<i64>,
    batch_id: &'a str,
    /// Events stored now.
    accepted: u64,
    /// Events stored before (same event_id).
    duplicates: u64,
    /// The batch_id was seen before; nothing was stored.
    duplicate_batch: bool,
}

/// Parses the batch into events, checking what serde cannot: every problem is a 400
/// naming the field's path, before anything is stored.
fn events_of(batch: &BatchRequest, now_ms: i64) -> Result<Vec<NewEvent>, ApiError> {
    if batch.events.len() > MAX_EVENTS {
        return Err(ApiError::BadRequest(format!(
            "events may hold at most {MAX_EVENTS} events, got {}",
            batch.events.len()
        )));
    }
    if batch.batch_id.is_empty() {
        return Err(ApiError::BadRequest(
            "batch_id must not be empty".to_owned(),
        ));
    }
    batch
        .events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let path = format!("events[{i}]");
            if event.event_id.is_empty() {
                return Err(ApiError::BadRequest(format!(
                    "{path}.event_id must not be empty"
                )));
            }
            let chars = event.event_type.chars().count();
            if chars == 0 || chars > 200 || event.event_type.chars().any(char::is_control) {
                return Err(ApiError::BadRequest(format!(
                    "{path}.event_type must be 1 to 200 characters without control characters, \
                     got {}",
                    quoted(&event.event_type)
                )));
            }
            // An empty time is no time, as null is.
            let at_ms = match event.occurred_at.as_deref().filter(|t| !t.is_empty()) {
                None => now_ms,
                Some(text) => rfc3339_ms(text).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{path}.occurred_at must be an RFC 3339 time such as \
                         2026-02-23T16:30:00Z, got {}",
                        quoted(text)
                    ))
                })?,
            };
            let mut body = Map::new();
            body.insert("source".to_owned(), json!("batch"));
            body.insert("event_id".to_owned(), json!(event.event_id));
            for (name, value) in [
                ("session_id", &event.session_id),
                ("telemetry_class", &event.telemetry_class),
                ("model_id", &event.model_id),
                ("model_version", &event.model_version),
            ] {
                if let Some(value) = value {
                    body.insert(name.to_owned(), json!(value));
                }
            }
            if let Some(n) = event.sequence_no {
                body.insert("sequence_no".to_owned(), json!(n));
            }
            let payload = match (&event.payload, &event.payload_json) {
                (Some(value), _) => Some(value.clone()),
                (None, Some(text)) => {
                    Some(serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!(text)))
                }
                (None, None) => None,
            };
            if let Some(payload) = payload {
                body.insert("payload".to_owned(), payload);
            }
            let boot_id = event.boot_id.as_ref().or(batch.boot_id.as_ref());
            Ok(NewEvent {
                event_type: event.event_type.clone(),
                at_ms,
                resource: boot_id.map(|b| json!({ "boot_id": b }).to_string()),
                event_key: Some(key64(&event.event_id)),
                body: Value::Object(body).to_string(),
            })
        })
        .collect()
}

/// Send a telemetry batch
///
/// The Python device agent's `TelemetryUploader` batches: up to 100 events, up to 256 KiB
/// of them, each stored as an event. A batch sent again (the same `batch_id`) is stored
/// once and acknowledged the same; events dedupe by `event_id` too, because the uploader
/// resends failed events under a new `batch_id`. The answer's `ackedThroughSeq` moves the
/// SDK's cursor. With a publishable or secret key, `device_id` names the device; one this
/// org does not know is a 404 with `x-device-needs-registration: true`, which the
/// uploader retries later, losing nothing.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "telemetry",
    request_body(content = BatchRequest, description = "The batch."),
    responses(
        (status = 200, description = "Stored (or stored before).", body = BatchAck),
        (status = 404, description = "`device_id` names no device of the key's org; \
            `x-device-needs-registration: true`."),
    ),
)]
pub async fn ingest_telemetry_batch(
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let body = read_body(payload).await?;
    let request: BatchRequest = parse_json_object(&body)?
        .ok_or_else(|| ApiError::BadRequest("the request body must be a batch".to_owned()))?;
    let acting = Acting {
        credential,
        named: request.device_id.clone(),
    };
    let now = state.clock.now();
    let batch = telemetry::Batch {
        key: key64(&request.batch_id),
        acked: request
            .last_seq
            .or_else(|| request.events.iter().filter_map(|e| e.sequence_no).max()),
        events: events_of(&request, now.0 * 1000)?,
    };
    let retention = state.telemetry_retention;
    let outcome = state
        .db
        .write(move |tx| telemetry::ingest_batch(tx, &acting, &batch, retention, now))
        .await;
    let (done, acked, repeat) = match outcome {
        Ok(BatchOutcome::Stored { ingested, acked }) => (ingested, acked, false),
        Ok(BatchOutcome::Repeat { acked }) => (
            Ingested {
                duplicates: request.events.len() as u64,
                ..Ingested::default()
            },
            acked,
            true,
        ),
        Err(Refusal::NotActing(NotActing::NotFound(_) | NotActing::OwnDeviceGone)) => {
            return Ok(unknown_device(&state, &request));
        }
        Err(refusal) => return Err(refusal.into()),
    };
    state.metrics.telemetry("batch", &done);
    Ok(HttpResponse::Ok().json(BatchAck {
        acked_through_seq: acked,
        batch_id: &request.batch_id,
        accepted: done.stored,
        duplicates: done.duplicates,
        duplicate_batch: repeat,
    }))
}

/// The 404 for a batch whose device the org does not know, with the header the Python
/// SDK's reporter reads (app.rs keeps it on the rendered error): it registers, then
/// sends the batch again.
fn unknown_device(state: &AppState, request: &BatchRequest) -> HttpResponse {
    state
        .metrics
        .telemetry_unknown_device(request.events.len() as u64);
    let named = request.device_id.as_deref().unwrap_or_default();
    let error = ApiError::NotFound(format!(
        "no device {} in this key's org: register it, then send the batch again",
        quoted(named)
    ));
    let mut response = HttpResponse::from_error(error);
    response.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static(NEEDS_REGISTRATION_HEADER),
        actix_web::http::header::HeaderValue::from_static("true"),
    );
    response
}
