//! `PUT` (and `POST`) `/api/v1/devices/{device_id}/heartbeat`
//!
//! The hot path: the key is looked up inside the write itself ([`Presented::write`]), so
//! a heartbeat costs one trip to the writer thread and one `UPDATE` by primary key (for a
//! device key naming its device by UUID, as the SDKs do).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Presented, Target};
use crate::domain::{DeviceIdentifier, DeviceStatus, JsonObject, Timestamp};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::schema;
use crate::state::{AppState, StorageCaps};
use crate::store::devices;

pub const ACCESS: Access = Access {
    action: "sending a heartbeat",
    allows: &[Allow::Device, Allow::Publishable, Allow::Secret],
    target: Target::PathDevice,
};

/// Top-level heartbeat fields the SDKs send that join the metrics snapshot.
const TELEMETRY_FIELDS: &[&str] = &[
    "battery_pct",
    "battery_level",
    "charging",
    "is_charging",
    "thermal_state",
    "network_type",
    "available_memory_mb",
    "available_storage_mb",
    "total_memory_mb",
    "cpu_usage_percent",
    "memory_usage_percent",
    "storage_usage_percent",
    "low_power_mode",
    "power_save_mode",
    "signal_strength",
    "is_idle",
    "screen_on",
    "uptime_seconds",
];

/// Heartbeat fields that update the device's metadata rather than its metrics.
const METADATA_FIELDS: &[&str] = &["sdk_version", "os_version", "app_version"];

/// A heartbeat; every field is optional and the body may be empty. Unknown fields are
/// ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({
    "status": "active",
    "metrics": {"cpu_usage_percent": 42.5, "memory_usage_percent": 61.0, "battery_level": 85}
})))]
struct HeartbeatRequest {
    /// The status the device reports. Default `active`.
    status: Option<DeviceStatus>,
    /// A metrics snapshot (`cpu_usage_percent`, `memory_usage_percent`, `battery_level`, …);
    /// it replaces the previous heartbeat's.
    metrics: Option<JsonObject>,
    /// The Python SDK puts battery and network here; its members join the metrics.
    metadata: Option<JsonObject>,
    #[serde(flatten)]
    #[schema(schema_with = heartbeat_sdk_fields)]
    other: Map<String, Value>,
}

fn heartbeat_sdk_fields() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    schema::sdk_fields_schema(&[
        (
            TELEMETRY_FIELDS,
            "Telemetry the SDKs send at the top level; any JSON value, it joins the metrics \
             snapshot (`metrics` wins where names collide).",
        ),
        (
            METADATA_FIELDS,
            "Any JSON value; updates the device's metadata (null is ignored).",
        ),
    ])
}

impl HeartbeatRequest {
    /// The heartbeat to record: its status; the metrics snapshot, as JSON text:
    /// `metadata` members, then top-level telemetry, then the `metrics` object, later ones
    /// winning where names collide; and the metadata patch, if it carried one.
    fn into_heartbeat(self) -> devices::Heartbeat {
        let mut metrics = self.metadata.map(|m| m.0).unwrap_or_default();
        let mut other = self.other;
        for field in TELEMETRY_FIELDS {
            if let Some(value) = other.remove(*field) {
                metrics.insert((*field).to_owned(), value);
            }
        }
        metrics.extend(self.metrics.map(|m| m.0).unwrap_or_default());
        let patch: Map<String, Value> = METADATA_FIELDS
            .iter()
            .filter_map(|f| {
                let value = other.remove(*f).filter(|v| !v.is_null())?;
                Some(((*f).to_owned(), value))
            })
            .collect();
        let patch = (!patch.is_empty()).then(|| Value::Object(patch).to_string());
        devices::Heartbeat {
            status: self.status.unwrap_or_default(),
            metrics_json: Value::Object(metrics).to_string(),
            metadata_patch_json: patch,
        }
    }
}

/// A heartbeat's answer: the fields every SDK reads, and the pending training round.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "status": "active",
    "last_heartbeat": "2025-07-01T12:10:00Z",
    "pending_round_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "message": "Training round 18 is awaiting your participation.",
    "id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "device_id": "laptop-001",
    "device_identifier": "laptop-001",
    "server_time": "2025-07-01T12:10:00Z",
    "acknowledged": true,
    "heartbeat_interval_seconds": 60
})))]
struct HeartbeatAck<'a> {
    /// The device's status after this heartbeat.
    status: DeviceStatus,
    /// This heartbeat's time.
    last_heartbeat: Option<Timestamp>,
    /// The training round waiting for this device, or null.
    #[schema(format = Uuid)]
    pending_round_id: Option<String>,
    /// A sentence about the pending round for a person, or null.
    message: Option<String>,
    #[schema(format = Uuid)]
    id: &'a str,
    device_id: &'a DeviceIdentifier,
    device_identifier: &'a DeviceIdentifier,
    server_time: Timestamp,
    /// Always true.
    acknowledged: bool,
    /// Seconds until the next heartbeat the server asks for.
    #[schema(minimum = 1)]
    heartbeat_interval_seconds: u32,
}

/// Send a heartbeat
///
/// Records that the device is alive, with its status and a metrics snapshot. The answer
/// names the oldest active training round that targets the device's platform and that it
/// has not joined, if the device is active. PUT is the reference's method; POST, which
/// the Python SDK sends, is the same.
#[utoipa::path(method(put, post), path = crate::routes::FROM_TABLE,
    tag = "devices", operation_id = "record_heartbeat",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    request_body(content = Option<HeartbeatRequest>,
        description = "Optional: an empty body is a heartbeat with status `active`."),
    responses(
        (status = 200, description = "Recorded.", body = HeartbeatAck),
    ),
)]
pub async fn record_heartbeat(
    state: web::Data<AppState>,
    key: Presented,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    record(&ACCESS, state, key, Some(path.into_inner()), body).await
}

/// A heartbeat for the device `reference` names; with no reference (`POST
/// /api/v1/devices/heartbeat`), for the device the body's `device_identifier` (or
/// `device_id`) names, else the device key's own device. One trip to the writer: the key
/// is looked up inside the write.
pub(crate) async fn record(
    access: &'static Access,
    state: web::Data<AppState>,
    key: Presented,
    reference: Option<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    access.check_kind(key.kind())?;
    let (named, heartbeat) = match parse(&body, reference, state.caps) {
        Ok(parsed) => parsed,
        // A bad key is the answer before a bad body, as on every other endpoint.
        Err(bad_body) => {
            key.verify(&state).await?;
            return Err(bad_body);
        }
    };
    let now = state.clock.now();
    let limits = state.limits.clone();
    let beat = key
        .write(&state, access, named, move |tx, acting| {
            devices::heartbeat(tx, acting, &heartbeat, now, |id| {
                limits.charge_heartbeat(id)
            })
        })
        .await?;
    let (device, pending) = (beat.device, beat.pending_round);
    let message = pending
        .as_ref()
        .map(|(_, number)| format!("Training round {number} is awaiting your participation."));

    Ok(HttpResponse::Ok().json(HeartbeatAck {
        status: device.status,
        last_heartbeat: device.last_heartbeat,
        pending_round_id: pending.map(|(id, _)| id),
        message,
        id: &device.id,
        device_id: &device.identifier,
        device_identifier: &device.identifier,
        server_time: now,
        acknowledged: true,
        heartbeat_interval_seconds: state.heartbeat_interval_seconds,
    }))
}

/// The heartbeat a body holds and the device it names (`reference` from the path, else
/// the body's), its metrics and metadata within the storage caps.
fn parse(
    body: &[u8],
    reference: Option<String>,
    caps: StorageCaps,
) -> Result<(Option<String>, devices::Heartbeat), ApiError> {
    let mut request: HeartbeatRequest = parse_json_object(body)?.unwrap_or_default();
    let named = match reference {
        Some(reference) => Some(reference),
        None => body_identifier(&mut request.other)?,
    };
    let heartbeat = request.into_heartbeat();
    StorageCaps::check(
        "metrics",
        &heartbeat.metrics_json,
        caps.metrics_bytes,
        "max-metrics-bytes",
    )?;
    if let Some(patch) = &heartbeat.metadata_patch_json {
        StorageCaps::check(
            "sdk_version, os_version and app_version",
            patch,
            caps.metadata_bytes,
            "max-metadata-bytes",
        )?;
    }
    Ok((named, heartbeat))
}

/// The device a body names, under either name (both only if they agree).
fn body_identifier(other: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    let mut named = |field: &str| -> Result<Option<DeviceIdentifier>, ApiError> {
        match other.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value::<DeviceIdentifier>(value)
                .map(Some)
                .map_err(|e| ApiError::BadRequest(format!("{field} {e}"))),
        }
    };
    let device_id = named("device_id")?;
    let device_identifier = named("device_identifier")?;
    Ok(crate::routes::one_identifier(device_id, device_identifier)?.map(String::from))
}
