//! `POST /api/v2/telemetry/events`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::read_body;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::json_kind;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::telemetry::{self, LogGroup, LogsIngested, NewEvent};

pub const ACCESS: Access = Access {
    action: "sending telemetry",
    allows: &[Allow::Device, Allow::Publishable, Allow::Secret],
    target: Target::BodyDevice,
};

/// Most log records one request may carry. More than a batch's 100: the Python reporter
/// sends one event a request, but everything still queued in one request at `close()`.
pub const MAX_RECORDS: usize = 1000;

/// Resource attributes that name the device, in the order they are tried: the Python
/// SDK's `octomil.device.id`, Node's and the browser's `device_id` / `device.id`.
const DEVICE_ATTRIBUTES: &[&str] = &["octomil.device.id", "device_id", "device.id"];

/// The header the Python SDK reads (telemetry.py `_response_requests_registration`).
pub const NEEDS_REGISTRATION_HEADER: &str = "x-device-needs-registration";

/// The answer: OTLP's `partialSuccess` plus what devreg did.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "partialSuccess": {},
    "accepted": 3,
    "duplicates": 0,
    "needs_registration": false
})))]
struct Exported {
    /// OTLP/HTTP's ExportLogsServiceResponse member: records refused, if any.
    #[serde(rename = "partialSuccess")]
    #[schema(value_type = Object)]
    partial_success: Value,
    /// Log records stored.
    accepted: u64,
    /// Log records already stored.
    duplicates: u64,
    /// True when a resource named a device this org does not know: register it (the
    /// Python SDK then registers in the background). Also sent as the
    /// `x-device-needs-registration: true` header.
    needs_registration: bool,
}

fn bad(path: &str, rule: &str, got: &Value) -> ApiError {
    ApiError::BadRequest(format!("{path} must be {rule}, got {}", json_kind(got)))
}

fn array<'a>(value: &'a Value, path: &str) -> Result<&'a [Value], ApiError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(bad(path, "an array", other)),
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(bad(path, "an object", other)),
    }
}

fn optional_array<'a>(
    map: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<&'a [Value], ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(value) => array(value, &format!("{path}.{field}")),
    }
}

/// An OTLP AnyValue as plain JSON: `intValue` (a string in OTLP/JSON) becomes a number.
fn any_value(value: &Value, path: &str) -> Result<Value, ApiError> {
    let map = object(value, path)?;
    let Some((kind, inner)) = map.iter().next() else {
        return Ok(Value::Null);
    };
    let path = format!("{path}.{kind}");
    Ok(match kind.as_str() {
        "stringValue" | "bytesValue" => match inner {
            Value::String(_) => inner.clone(),
            other => return Err(bad(&path, "a string", other)),
        },
        "boolValue" => match inner {
            Value::Bool(_) => inner.clone(),
            other => return Err(bad(&path, "a boolean", other)),
        },
        "intValue" => match inner {
            Value::Number(n) if n.is_i64() || n.is_u64() => inner.clone(),
            Value::String(text) => match text.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    return Err(ApiError::BadRequest(format!(
                        "{path} must be an integer (or its decimal text), got {}",
                        Value::from(text.as_str())
                    )));
                }
            },
            other => return Err(bad(&path, "an integer (or its decimal text)", other)),
        },
        "doubleValue" => match inner {
            Value::Number(_) => inner.clone(),
            // OTLP/JSON writes the non-finite doubles as text.
            Value::String(text) if ["NaN", "Infinity", "-Infinity"].contains(&text.as_str()) => {
                inner.clone()
            }
            other => return Err(bad(&path, "a number", other)),
        },
        "arrayValue" => {
            let values = optional_array(object(inner, &path)?, "values", &path)?;
            Value::Array(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| any_value(v, &format!("{path}.values[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        "kvlistValue" => {
            let values = optional_array(object(inner, &path)?, "values", &path)?;
            Value::Object(key_values(values, &format!("{path}.values"))?)
        }
        _ => {
            return Err(ApiError::BadRequest(format!(
                "{path} is not an OTLP AnyValue: use stringValue, boolValue, intValue, \
                 doubleValue, arrayValue, kvlistValue or bytesValue"
            )));
        }
    })
}

/// An OTLP KeyValue list as a JSON object.
fn key_values(items: &[Value], path: &str) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let kv = object(item, &path)?;
        let key = match kv.get("key") {
            Some(Value::String(key)) => key.clone(),
            Some(other) => return Err(bad(&format!("{path}.key"), "a string", other)),
            None => return Err(ApiError::BadRequest(format!("{path}.key is required"))),
        };
        let value = match kv.get("value") {
            None | Some(Value::Null) => Value::Null,
            Some(value) => any_value(value, &format!("{path}.value"))?,
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// Nanoseconds since the epoch, as OTLP/JSON writes them (text or a number), in ms.
fn unix_nano_ms(value: Option<&Value>, path: &str) -> Result<Option<i64>, ApiError> {
    let nanos = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "{path} must be nanoseconds since the Unix epoch (decimal text), got {}",
                Value::from(text.as_str())
            ))
        })?,
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            bad(
                path,
                "nanoseconds since the Unix epoch",
                &Value::Number(n.clone()),
            )
        })?,
        Some(other) => return Err(bad(path, "nanoseconds since the Unix epoch", other)),
    };
    Ok((nanos > 0).then_some((nanos / 1_000_000) as i64))
}

/// Parses a whole request before anything is stored: a bad field anywhere is a 400
/// naming its path, and nothing of the request is kept.
fn parse(body: &[u8], now_ms: i64) -> Result<Vec<LogGroup>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))?;
    let root = object(&value, "the request body")?;
    let resource_logs = match root.get("resourceLogs") {
        Some(v) => array(v, "resourceLogs")?,
        None => {
            return Err(ApiError::BadRequest(
                "resourceLogs is required: the body must be OTLP/JSON logs \
                 (ExportLogsServiceRequest)"
                    .to_owned(),
            ));
        }
    };
    let mut groups = Vec::new();
    let mut records = 0;
    for (r, resource_log) in resource_logs.iter().enumerate() {
        let path = format!("resourceLogs[{r}]");
        let resource_log = object(resource_log, &path)?;
        let attributes = match resource_log.get("resource") {
            None | Some(Value::Null) => Map::new(),
            Some(resource) => {
                let rpath = format!("{path}.resource");
                let resource = object(resource, &rpath)?;
                key_values(
                    optional_array(resource, "attributes", &rpath)?,
                    &format!("{rpath}.attributes"),
                )?
            }
        };
        let device = DEVICE_ATTRIBUTES
            .iter()
            .find_map(|name| match attributes.get(*name) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            });
        let resource_json = Value::Object(attributes).to_string();
        let mut events = Vec::new();
        for (s, scope_log) in optional_array(resource_log, "scopeLogs", &path)?
            .iter()
            .enumerate()
        {
            let spath = format!("{path}.scopeLogs[{s}]");
            let scope_log = object(scope_log, &spath)?;
            let scope = match scope_log.get("scope") {
                None | Some(Value::Null) => None,
                Some(scope) => {
                    let scope = object(scope, &format!("{spath}.scope"))?;
                    scope.get("name").and_then(Value::as_str).map(str::to_owned)
                }
            };
            for (l, record) in optional_array(scope_log, "logRecords", &spath)?
                .iter()
                .enumerate()
            {
                let lpath = format!("{spath}.logRecords[{l}]");
                records += 1;
                if records > MAX_RECORDS {
                    return Err(ApiError::BadRequest(format!(
                        "a request may carry at most {MAX_RECORDS} log records"
                    )));
                }
                events.push(log_record(
                    record,
                    &lpath,
                    scope.as_deref(),
                    &resource_json,
                    now_ms,
                )?);
            }
        }
        groups.push(LogGroup { device, events });
    }
    Ok(groups)
}

fn log_record(
    record: &Value,
    path: &str,
    scope: Option<&str>,
    resource_json: &str,
    now_ms: i64,
) -> Result<NewEvent, ApiError> {
    let record = object(record, path)?;
    let attributes = key_values(
        optional_array(record, "attributes", path)?,
        &format!("{path}.attributes"),
    )?;
    let body = match record.get("body") {
        None | Some(Value::Null) => Value::Null,
        Some(body) => any_value(body, &format!("{path}.body"))?,
    };
    let text = |field: &str| -> Result<Option<&str>, ApiError> {
        match record.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(bad(&format!("{path}.{field}"), "a string", other)),
        }
    };
    // The event's name: OTLP's eventName, an `event.name` attribute, or (the Python SDK)
    // the body's text.
    let event_type = text("eventName")?
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            attributes
                .get("event.name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| body.as_str().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "log".to_owned());
    let event_type: String = event_type.chars().take(200).collect();
    let at_ms = unix_nano_ms(record.get("timeUnixNano"), &format!("{path}.timeUnixNano"))?
        .or(unix_nano_ms(
            record.get("observedTimeUnixNano"),
            &format!("{path}.observedTimeUnixNano"),
        )?)
        .unwrap_or(now_ms);
    let mut kept = Map::new();
    kept.insert("source".to_owned(), json!("otlp"));
    if let Some(scope) = scope {
        kept.insert("scope".to_owned(), json!(scope));
    }
    if let Some(severity) = text("severityText")? {
        kept.insert("severity".to_owned(), json!(severity));
    }
    if !body.is_null() && body.as_str() != Some(event_type.as_str()) {
        kept.insert("body".to_owned(), body);
    }
    kept.insert("attributes".to_owned(), Value::Object(attributes));
    for (field, name) in [("traceId", "trace_id"), ("spanId", "span_id")] {
        if let Some(id) = text(field)?.filter(|s| !s.is_empty()) {
            kept.insert(name.to_owned(), json!(id));
        }
    }
    Ok(NewEvent {
        event_type,
        at_ms,
        resource: Some(resource_json.to_owned()),
        event_key: None,
        body: Value::Object(kept).to_string(),
    })
}

/// Send OTLP/JSON logs
///
/// OpenTelemetry logs (`ExportLogsServiceRequest` as JSON), as every SDK's telemetry
/// reporter sends them: each log record becomes a stored event, with its resource's and
/// its own attributes. The event's type is the record's `eventName`, its `event.name`
/// attribute, or its body text (the Python SDK's). With a device's key or token the
/// events are that device's; with a publishable or secret key the resource names the
/// device (`octomil.device.id`, `device_id` or `device.id`: its UUID or identifier). A
/// device the org does not know gets `needs_registration: true` and the header
/// `x-device-needs-registration: true` (the Python SDK then registers it); its records
/// are not stored. Bodies up to 260 KiB, at most 1000 records.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "telemetry",
    request_body(content = inline(crate::schema::OtlpLogs), description = "OTLP/JSON logs.",
        example = json!({
        "resourceLogs": [{
            "resource": {"attributes": [
                {"key": "octomil.device.id", "value": {"stringValue": "laptop-001"}}]},
            "scopeLogs": [{
                "scope": {"name": "octomil.inference", "version": "1.0.0"},
                "logRecords": [{
                    "timeUnixNano": "1771864200000000000",
                    "severityText": "INFO",
                    "body": {"stringValue": "inference.completed"},
                    "attributes": [
                        {"key": "inference.total_tokens", "value": {"intValue": "12"}}]
                }]
            }]
        }]
    })),
    responses((status = 200, description = "Stored (or the needs-registration signal).",
        body = Exported, headers(("x-device-needs-registration" = String,
            description = "`true` when a resource names a device the org does not know.")))),
)]
pub async fn ingest_otlp_logs(
    state: web::Data<AppState>,
    caller: Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let body = read_body(payload).await?;
    let now = state.clock.now();
    let groups = parse(&body, now.0 * 1000)?;
    let retention = state.telemetry_retention;
    let LogsIngested {
        ingested: done,
        unknown,
    } = state
        .db
        .write(move |tx| telemetry::ingest_logs(tx, &credential, &groups, retention, now))
        .await?;
    state.metrics.telemetry("otlp", &done);
    let needs_registration = unknown > 0;
    let mut response = HttpResponse::Ok();
    if needs_registration {
        state.metrics.telemetry_unknown_device(unknown);
        response.insert_header((NEEDS_REGISTRATION_HEADER, "true"));
    }
    let partial_success = if needs_registration {
        json!({
            "rejectedLogRecords": unknown.to_string(),
            "errorMessage": "the resource names a device this org does not know; register it"
        })
    } else {
        json!({})
    };
    Ok(response.json(Exported {
        partial_success,
        accepted: done.stored,
        duplicates: done.duplicates,
        needs_registration,
    }))
}
