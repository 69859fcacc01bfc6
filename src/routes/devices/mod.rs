//! Devices and everything under `/devices/{id}/`: register, list, retrieve, heartbeat
//! (by path, or by key for Node's `configure()`), an operator's lifecycle (change,
//! re-key, delete), the desired and observed state the SDKs sync (`sync`,
//! `desired-state`, `observed-state`, `assignments`, and iOS's `/api/v1/control` calls on
//! the key's own device), and a device's telemetry. A heartbeat's answer names the
//! training round pending for the device, if any (see `routes::rounds`).

pub mod assignments;
pub mod control_heartbeat;
pub mod control_sync;
pub mod delete;
pub mod desired_get;
pub mod desired_post;
pub mod desired_state;
pub mod get;
pub mod groups;
pub mod heartbeat;
pub mod heartbeat_by_key;
pub mod list;
pub mod list_telemetry;
pub mod model_version;
pub mod observed;
pub mod register;
pub mod rekey;
pub mod sync;
pub mod training_job_complete;
pub mod training_job_create;
pub mod training_job_status;
pub mod training_jobs;
pub mod update;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{
    Connectivity, DeviceIdentifier, DeviceStatus, Labels, ObjectValue, OrgId, Platform, RawObject,
    Timestamp,
};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::devices::{Detail, Refusal};
use crate::store::telemetry;

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
    "labels": {"env": "prod", "ring": "canary"},
    "status": "active",
    "connectivity": "online",
    "last_heartbeat": "2025-07-01T12:05:00Z",
    "metrics": {"cpu_usage_percent": 42.5, "battery_level": 85},
    "created_at": "2025-07-01T12:00:00Z",
    "updated_at": "2025-07-01T12:05:00Z",
    "gpu_available": false,
    "heartbeat_interval_seconds": 60
})))]
pub struct DeviceDetail<'a> {
    #[schema(format = Uuid)]
    id: &'a str,
    device_id: &'a DeviceIdentifier,
    /// The same as `device_id`, under the SDKs' name.
    device_identifier: &'a DeviceIdentifier,
    org_id: &'a OrgId,
    platform: &'a Platform,
    capabilities: RawObject<'a>,
    /// What the SDKs sent about the device at registration and in heartbeats.
    metadata: RawObject<'a>,
    labels: &'a Labels,
    status: DeviceStatus,
    /// What the server observes: `online` when the last heartbeat is at most 2 heartbeat
    /// intervals old, `stale` up to 10, else `offline` (multiples configurable).
    connectivity: Connectivity,
    /// Null before the first heartbeat.
    last_heartbeat: Option<Timestamp>,
    /// The latest heartbeat's metrics snapshot; null before the first heartbeat.
    metrics: Option<RawObject<'a>>,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// The `gpu_available` the SDK sent at registration (false when it sent none); iOS's
    /// `DeviceInfo` requires it.
    gpu_available: bool,
    /// How often the device should heartbeat; iOS's `DeviceInfo` requires it.
    heartbeat_interval_seconds: u32,
    /// The device's telemetry at a glance; null before its first event.
    telemetry: Option<TelemetrySummary>,
    /// What the device last reported it runs (observed-state, or a sync's inventory):
    /// `{"models": [{model_id, status, installed_version, active_version, reported,
    /// changed_at}], "updated_at"}`; null before its first report.
    observed_state: Option<ObjectValue>,
}

/// Counts of the telemetry a device sent, and when.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "received": 3, "stored": 3, "dropped": 0,
    "last_event_at": "2025-07-01T12:04:59Z", "last_received_at": "2025-07-01T12:05:00Z",
    "by_type": {"inference.completed": {"count": 2, "last_event_at": "2025-07-01T12:04:59Z"}}
})))]
pub struct TelemetrySummary {
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

impl<'a> DeviceDetail<'a> {
    /// A device as retrieve shows it, its connectivity at the server's present.
    pub fn new(detail: &'a Detail, state: &AppState) -> Self {
        let device = &detail.device;
        DeviceDetail {
            id: &device.id,
            device_id: &device.identifier,
            device_identifier: &device.identifier,
            org_id: &device.org_id,
            platform: &device.platform,
            capabilities: RawObject(&device.capabilities),
            metadata: RawObject(&device.metadata),
            labels: &detail.labels,
            status: device.status,
            connectivity: state
                .connectivity
                .of(device.last_heartbeat, state.clock.now()),
            last_heartbeat: device.last_heartbeat,
            metrics: device.metrics.as_deref().map(RawObject),
            created_at: device.created_at,
            updated_at: device.updated_at,
            gpu_available: serde_json::from_str::<serde_json::Value>(device.metadata.get())
                .ok()
                .and_then(|m| m.get("gpu_available")?.as_bool())
                .unwrap_or(false),
            heartbeat_interval_seconds: state.heartbeat_interval_seconds,
            telemetry: detail.telemetry.clone().map(TelemetrySummary::from),
            observed_state: Some(ObjectValue(detail.observed_state.clone()))
                .filter(|state| !state.0.is_null()),
        }
    }
}

/// The answers for a registration or a change the store refused.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::OverQuota { org_id, quota } => ApiError::Forbidden(format!(
                "org {org_id} has reached its quota of {quota} devices; delete devices or ask \
                 the server's operator to raise --max-devices-per-org"
            )),
            Refusal::NoOrg(org_id) => ApiError::NotFound(format!(
                "org {org_id} does not exist; send the org_id of an existing org, or none to \
                 join org_demo"
            )),
            Refusal::Taken { org_id, identifier } => ApiError::Conflict(format!(
                "a device with device_id {} is already registered in org {org_id}{}",
                quoted(identifier.as_str()),
                match uuid::Uuid::try_parse(identifier.as_str()) {
                    // Its id, in some spelling: a path would name that device.
                    Ok(_) => " (as its identifier or as its id)",
                    Err(_) => "",
                }
            )),
            Refusal::Labels(why) => ApiError::BadRequest(why),
            Refusal::NotOwnDevice { identifier } => ApiError::Forbidden(format!(
                "a device's own key or access token registers only its own device, not \
                 device_id {}: register other devices with the org's secret key or a \
                 publishable key",
                quoted(identifier.as_str())
            )),
            Refusal::NotActing(refusal) => refusal.into(),
            Refusal::Store(err) => err.into(),
        }
    }
}
