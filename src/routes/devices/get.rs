//! `GET /api/v1/devices/{device_id}`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::owns;
use crate::auth::{Access, Allow, Caller};
use crate::domain::{DeviceIdentifier, DeviceStatus, OrgId, Platform, Timestamp};
use crate::error::ApiError;
use crate::routes::device_not_found;
use crate::state::AppState;
use crate::store::{desired, devices, telemetry};

pub const ACCESS: Access = Access {
    action: "reading a device",
    allows: &[Allow::Secret, Allow::Device],
};

/// A device in full.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    "device_id": "laptop-001",
    "device_identifier": "laptop-001",
    "org_id": "org_demo",
    "platform": "python",
    "capabilities": {"cpu": "4-core", "memory_gb": 8, "gpu": false},
    "metadata": {},
    "status": "active",
    "last_heartbeat": "2025-07-01T12:05:00Z",
    "metrics": {"cpu_usage_percent": 42.5, "battery_level": 85},
    "created_at": "2025-07-01T12:00:00Z",
    "updated_at": "2025-07-01T12:05:00Z"
})))]
struct DeviceDetail<'a> {
    #[schema(format = Uuid)]
    id: &'a str,
    device_id: &'a DeviceIdentifier,
    /// The same as `device_id`, under the SDKs' name.
    device_identifier: &'a DeviceIdentifier,
    org_id: &'a OrgId,
    platform: &'a Platform,
    #[schema(value_type = Object)]
    capabilities: &'a RawValue,
    /// What the SDKs sent about the device at registration and in heartbeats.
    #[schema(value_type = Object)]
    metadata: &'a RawValue,
    status: DeviceStatus,
    /// Null before the first heartbeat.
    last_heartbeat: Option<Timestamp>,
    /// The latest heartbeat's metrics snapshot; null before the first heartbeat.
    #[schema(value_type = Option<Object>)]
    metrics: Option<&'a RawValue>,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// The device's telemetry at a glance; null before its first event.
    telemetry: Option<TelemetrySummary>,
    /// What the device last reported it runs (observed-state, or a sync's inventory):
    /// `{"models": [{model_id, status, installed_version, active_version, reported,
    /// changed_at}], "updated_at"}`; null before its first report.
    #[schema(value_type = Option<Object>)]
    observed_state: serde_json::Value,
}

/// Counts of the telemetry a device sent, and when.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "received": 3, "stored": 3, "dropped": 0,
    "last_event_at": "2025-07-01T12:04:59Z", "last_received_at": "2025-07-01T12:05:00Z",
    "by_type": {"inference.completed": {"count": 2, "last_event_at": "2025-07-01T12:04:59Z"}}
})))]
struct TelemetrySummary {
    /// Events stored since the device's first (duplicates not counted).
    received: i64,
    /// Events kept now.
    stored: i64,
    /// Events retention deleted.
    dropped: i64,
    /// The latest event's time.
    last_event_at: Option<Timestamp>,
    /// When the latest telemetry request arrived.
    last_received_at: Option<Timestamp>,
    /// Per event type: events received and the latest one's time.
    #[schema(value_type = Object)]
    by_type: serde_json::Map<String, serde_json::Value>,
}

impl From<telemetry::Summary> for TelemetrySummary {
    fn from(s: telemetry::Summary) -> Self {
        let at = |ms: i64| Timestamp(ms.div_euclid(1000));
        TelemetrySummary {
            received: s.received,
            stored: s.stored,
            dropped: s.dropped,
            last_event_at: s.last_event_ms.map(at),
            last_received_at: s.last_received_at,
            by_type: s
                .by_type
                .into_iter()
                .map(|(name, count, last)| {
                    let entry = serde_json::json!({"count": count, "last_event_at": at(last)});
                    (name, entry)
                })
                .collect(),
        }
    }
}

/// Retrieve a device
///
/// A device of the key's org, by its identifier or its UUID `id`.
#[utoipa::path(get, path = "/api/v1/devices/{device_id}", tag = "devices",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    responses(
        (status = 200, description = "The device.", body = DeviceDetail),
        (status = 404, description = "No such device in the key's org (or, for a device key, \
            another device)."),
    ),
)]
pub async fn get_device(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let reference = path.into_inner();
    let (org_id, lookup) = (credential.org_id.clone(), reference.clone());
    let (device, summary, observed_state) = state
        .db
        .read(move |conn| {
            let Some(device) =
                devices::find(conn, org_id.as_str(), &lookup)?.filter(|d| owns(&credential, d))
            else {
                return Ok(None);
            };
            let summary = telemetry::summary(conn, &device.id)?;
            let observed = desired::observed_state(conn, &device.id)?;
            Ok::<_, ApiError>(Some((device, summary, observed)))
        })
        .await?
        .ok_or_else(|| device_not_found(&reference))?;
    Ok(HttpResponse::Ok().json(DeviceDetail {
        id: &device.id,
        device_id: &device.identifier,
        device_identifier: &device.identifier,
        org_id: &device.org_id,
        platform: &device.platform,
        capabilities: &device.capabilities,
        metadata: &device.metadata,
        status: device.status,
        last_heartbeat: device.last_heartbeat,
        metrics: device.metrics.as_deref(),
        created_at: device.created_at,
        updated_at: device.updated_at,
        telemetry: summary.map(TelemetrySummary::from),
        observed_state,
    }))
}
