//! The Devices API: register, list, retrieve, heartbeat. A heartbeat's answer names the
//! training round pending for the device, if any (see `routes::rounds`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::parse_json_object;
use crate::app::AppState;
use crate::auth::{Caller, Credential};
use crate::domain::{
    ApiKey, DeviceIdentifier, DeviceStatus, JsonObject, KeyKind, Limit, Offset, OrgId, Platform,
    Timestamp, now,
};
use crate::error::ApiError;
use crate::store::{StoreError, devices, rounds};

/// Fields the SDKs send at registration that are kept as the device's `metadata`.
const SDK_METADATA_FIELDS: &[&str] = &[
    "os_version",
    "sdk_version",
    "app_version",
    "manufacturer",
    "model",
    "cpu_architecture",
    "gpu_available",
    "total_memory_mb",
    "available_storage_mb",
    "battery_pct",
    "charging",
    "locale",
    "region",
    "timezone",
    "installation_id",
    "app_id",
    "device_info",
];

/// Top-level heartbeat fields the SDKs send that join the metrics snapshot.
const HEARTBEAT_TELEMETRY_FIELDS: &[&str] = &[
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
const HEARTBEAT_METADATA_FIELDS: &[&str] = &["sdk_version", "os_version", "app_version"];

// ---------------------------------------------------------------------------------------
// Register

#[derive(Debug, Deserialize)]
struct RegisterRequest {
    device_id: Option<DeviceIdentifier>,
    device_identifier: Option<DeviceIdentifier>,
    platform: Option<Platform>,
    capabilities: Option<JsonObject>,
    org_id: Option<String>,
    metadata: Option<JsonObject>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// A registration as the store needs it, every field parsed.
struct Registration {
    identifier: DeviceIdentifier,
    platform: Platform,
    capabilities: Map<String, Value>,
    org_id: Option<String>,
    metadata: Map<String, Value>,
}

impl TryFrom<RegisterRequest> for Registration {
    type Error = ApiError;

    fn try_from(request: RegisterRequest) -> Result<Self, ApiError> {
        let identifier = match (request.device_id, request.device_identifier) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::BadRequest(format!(
                    "device_id ({a:?}) and device_identifier ({b:?}) must agree when both are sent"
                )));
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => return Err(missing_identifier()),
        };
        let mut metadata = request.metadata.map(|m| m.0).unwrap_or_default();
        let mut other = request.other;
        for field in SDK_METADATA_FIELDS {
            if let Some(value) = other.remove(*field).filter(|v| !v.is_null()) {
                metadata.insert((*field).to_owned(), value);
            }
        }
        Ok(Registration {
            identifier,
            platform: request.platform.unwrap_or_default(),
            capabilities: request.capabilities.map(|c| c.0).unwrap_or_default(),
            org_id: request.org_id,
            metadata,
        })
    }
}

fn missing_identifier() -> ApiError {
    ApiError::BadRequest(
        "device_id is required (the SDKs' name device_identifier is accepted too): a string of \
         1 to 255 characters"
            .to_owned(),
    )
}

#[derive(Serialize)]
struct RegisteredDevice<'a> {
    id: &'a str,
    device_id: &'a str,
    device_identifier: &'a str,
    org_id: &'a str,
    api_key: &'a str,
    access_token: &'a str,
    platform: &'a str,
    capabilities: &'a RawValue,
    status: &'a str,
    created_at: Timestamp,
    registered_at: Timestamp,
    updated_at: Timestamp,
    heartbeat_interval_seconds: u32,
}

/// `POST /api/v1/devices/register`
pub async fn register_device(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: RegisterRequest = parse_json_object(&body)?.ok_or_else(missing_identifier)?;
    let registration = Registration::try_from(request)?;

    let org_id = match caller.0 {
        Some(Credential {
            kind: KeyKind::Device,
            ..
        }) => {
            return Err(ApiError::Forbidden(
                "a device key cannot register devices; use the org's secret or publishable key"
                    .to_owned(),
            ));
        }
        Some(credential) => credential.org_id,
        None if !state.open_registration => {
            return Err(ApiError::Unauthorized(
                "open registration is off on this server: send the org's secret or publishable \
                 key as Authorization: Bearer <key>"
                    .to_owned(),
            ));
        }
        None => registration
            .org_id
            .clone()
            .unwrap_or_else(|| OrgId::demo().as_str().to_owned()),
    };

    let key = ApiKey::generate(KeyKind::Device);
    let capabilities_json = Value::Object(registration.capabilities).to_string();
    let metadata_json = Value::Object(registration.metadata).to_string();
    let (identifier, platform) = (registration.identifier.clone(), registration.platform);
    let (stored_org, stored_key) = (org_id.clone(), key.clone());
    let stored = state
        .db
        .write(move |tx| {
            devices::register(
                tx,
                &devices::Registration {
                    org_id: &stored_org,
                    identifier: &identifier,
                    platform: &platform,
                    capabilities_json: &capabilities_json,
                    metadata_json: &metadata_json,
                    key: &stored_key,
                },
                now(),
            )
        })
        .await
        .map_err(|e| match e {
            StoreError::Duplicate => ApiError::Conflict(format!(
                "a device with device_id {:?} is already registered in org {org_id}",
                registration.identifier.as_str()
            )),
            other => other.into(),
        })?;
    let device = stored.ok_or_else(|| {
        ApiError::NotFound(format!(
            "org {org_id} does not exist; send the org_id of an existing org, or none to join \
             org_demo"
        ))
    })?;

    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/devices/{}", device.id)))
        .json(RegisteredDevice {
            id: &device.id,
            device_id: &device.identifier,
            device_identifier: &device.identifier,
            org_id: &device.org_id,
            api_key: key.expose(),
            access_token: key.expose(),
            platform: &device.platform,
            capabilities: &device.capabilities,
            status: &device.status,
            created_at: device.created_at,
            registered_at: device.created_at,
            updated_at: device.updated_at,
            heartbeat_interval_seconds: state.heartbeat_interval_seconds,
        }))
}

// ---------------------------------------------------------------------------------------
// List

/// The list query as sent: text, so a bad value's error can quote it.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    org_id: Option<String>,
    platform: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    /// Keyset pagination: the `id` of the last device of the previous page.
    after: Option<String>,
}

struct ListFilter {
    org_id: String,
    platform: Option<Platform>,
    status: Option<DeviceStatus>,
    limit: Limit,
    offset: Offset,
    after: Option<uuid::Uuid>,
}

impl TryFrom<ListParams> for ListFilter {
    type Error = ApiError;

    fn try_from(params: ListParams) -> Result<Self, ApiError> {
        let bad = ApiError::BadRequest;
        let org_id = params.org_id.filter(|o| !o.is_empty()).ok_or_else(|| {
            bad(
                "org_id is required: the organization whose devices to list, such as org_demo"
                    .to_owned(),
            )
        })?;
        let platform = params
            .platform
            .map(Platform::try_from)
            .transpose()
            .map_err(|e| bad(format!("platform {e}")))?;
        let status = params
            .status
            .map(DeviceStatus::try_from)
            .transpose()
            .map_err(|e| bad(format!("status {e}")))?;
        Ok(ListFilter {
            org_id,
            platform,
            status,
            limit: Limit::parse(params.limit.as_deref()).map_err(bad)?,
            offset: Offset::parse(params.offset.as_deref()).map_err(bad)?,
            after: params
                .after
                .map(|after| {
                    uuid::Uuid::try_parse(&after).map_err(|_| {
                        bad(format!(
                            "after {after:?} is not a device id: give the id (a UUID) of the \
                             last device of the previous page"
                        ))
                    })
                })
                .transpose()?,
        })
    }
}

#[derive(Serialize)]
struct DeviceList {
    devices: Vec<DeviceListItem>,
    total: u64,
    limit: u32,
    offset: u64,
}

#[derive(Serialize)]
struct DeviceListItem {
    id: String,
    device_identifier: String,
    device_id: String,
    org_id: String,
    platform: String,
    status: String,
    last_seen_at: Option<Timestamp>,
}

/// `GET /api/v1/devices`
pub async fn list_devices(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = caller.require()?;
    if credential.kind != KeyKind::Secret {
        return Err(ApiError::Forbidden(format!(
            "listing devices needs the org's secret key; a {} key cannot",
            credential.kind.as_str()
        )));
    }
    let params: ListParams = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("the query string could not be read: {e}")))?;
    let filter = ListFilter::try_from(params)?;
    if filter.org_id != credential.org_id {
        return Err(ApiError::Forbidden(format!(
            "this key belongs to org {}; it cannot list the devices of org {}",
            credential.org_id, filter.org_id
        )));
    }

    let (limit, offset) = (filter.limit.get(), filter.offset.get());
    let after = filter.after.map(|id| id.hyphenated().to_string());
    let (devices, total) = state
        .db
        .read(move |conn| {
            devices::list(
                conn,
                &devices::ListQuery {
                    org_id: &filter.org_id,
                    platform: filter.platform.as_ref().map(Platform::as_str),
                    status: filter.status,
                    limit,
                    offset,
                    after: after.as_deref(),
                },
            )
        })
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "after names no device of this org: give the id of the last device of the \
                 previous page"
                    .to_owned(),
            )
        })?;
    Ok(HttpResponse::Ok().json(DeviceList {
        devices: devices
            .into_iter()
            .map(|d| DeviceListItem {
                device_id: d.identifier.clone(),
                id: d.id,
                device_identifier: d.identifier,
                org_id: d.org_id,
                platform: d.platform,
                status: d.status,
                last_seen_at: d.last_heartbeat,
            })
            .collect(),
        total,
        limit,
        offset,
    }))
}

// ---------------------------------------------------------------------------------------
// Retrieve

#[derive(Serialize)]
struct DeviceDetail<'a> {
    id: &'a str,
    device_id: &'a str,
    device_identifier: &'a str,
    org_id: &'a str,
    platform: &'a str,
    capabilities: &'a RawValue,
    metadata: &'a RawValue,
    status: &'a str,
    last_heartbeat: Option<Timestamp>,
    metrics: Option<&'a RawValue>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// The 404 for a device the caller cannot see, whether it exists elsewhere or not at all.
fn device_not_found(reference: &str) -> ApiError {
    ApiError::NotFound(format!("no device {reference:?} in this key's org"))
}

/// Whether `credential` may act on `device`: a device key only on its own device.
fn owns(credential: &Credential, device: &devices::Device) -> bool {
    credential.kind != KeyKind::Device || credential.device_id.as_deref() == Some(&device.id)
}

/// `GET /api/v1/devices/{device_id}`
pub async fn get_device(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = caller.require()?;
    if credential.kind == KeyKind::Publishable {
        return Err(ApiError::Forbidden(
            "a publishable key cannot read devices; use the org's secret key or the device's own \
             key"
            .to_owned(),
        ));
    }
    let reference = path.into_inner();
    let org_id = credential.org_id.clone();
    let lookup = reference.clone();
    let device = state
        .db
        .read(move |conn| devices::find(conn, &org_id, &lookup))
        .await?
        .filter(|d| owns(&credential, d))
        .ok_or_else(|| device_not_found(&reference))?;
    Ok(HttpResponse::Ok().json(DeviceDetail {
        id: &device.id,
        device_id: &device.identifier,
        device_identifier: &device.identifier,
        org_id: &device.org_id,
        platform: &device.platform,
        capabilities: &device.capabilities,
        metadata: &device.metadata,
        status: &device.status,
        last_heartbeat: device.last_heartbeat,
        metrics: device.metrics.as_deref(),
        created_at: device.created_at,
        updated_at: device.updated_at,
    }))
}

// ---------------------------------------------------------------------------------------
// Heartbeat

#[derive(Debug, Default, Deserialize)]
struct HeartbeatRequest {
    status: Option<DeviceStatus>,
    metrics: Option<JsonObject>,
    /// The Python SDK puts battery and network here; its members join the metrics.
    metadata: Option<JsonObject>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// A heartbeat as the store needs it.
struct Beat {
    status: DeviceStatus,
    metrics: Map<String, Value>,
    metadata_patch: Map<String, Value>,
}

impl From<HeartbeatRequest> for Beat {
    /// Metrics snapshot: `metadata` members, then top-level telemetry, then the `metrics`
    /// object, later ones winning where names collide.
    fn from(request: HeartbeatRequest) -> Self {
        let mut metrics = request.metadata.map(|m| m.0).unwrap_or_default();
        let mut other = request.other;
        for field in HEARTBEAT_TELEMETRY_FIELDS {
            if let Some(value) = other.remove(*field) {
                metrics.insert((*field).to_owned(), value);
            }
        }
        metrics.extend(request.metrics.map(|m| m.0).unwrap_or_default());
        let metadata_patch = HEARTBEAT_METADATA_FIELDS
            .iter()
            .filter_map(|f| {
                let value = other.remove(*f).filter(|v| !v.is_null())?;
                Some(((*f).to_owned(), value))
            })
            .collect();
        Beat {
            status: request.status.unwrap_or_default(),
            metrics,
            metadata_patch,
        }
    }
}

#[derive(Serialize)]
struct HeartbeatAck<'a> {
    status: &'a str,
    last_heartbeat: Option<Timestamp>,
    pending_round_id: Option<String>,
    message: Option<String>,
    id: &'a str,
    device_id: &'a str,
    device_identifier: &'a str,
    server_time: Timestamp,
    acknowledged: bool,
    heartbeat_interval_seconds: u32,
}

/// `PUT` (and `POST`) `/api/v1/devices/{device_id}/heartbeat`
///
/// The hot path: the key is looked up inside the write itself, so a heartbeat costs one
/// trip to the writer thread and one `UPDATE` by primary key (for a device key).
pub async fn record_heartbeat(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let key = crate::auth::presented_api_key(&req)?;
    let digest = key.digest();
    let request: HeartbeatRequest = match parse_json_object(&body) {
        Ok(request) => request.unwrap_or_default(),
        // A bad key is the answer before a bad body, as on every other endpoint.
        Err(bad_body) => {
            state
                .db
                .read(move |conn| crate::auth::credential_for(conn, &digest))
                .await??;
            return Err(bad_body);
        }
    };
    let beat = Beat::from(request);
    let reference = path.into_inner();

    let metrics_json = Value::Object(beat.metrics).to_string();
    let metadata_patch_json =
        (!beat.metadata_patch.is_empty()).then(|| Value::Object(beat.metadata_patch).to_string());
    let lookup = reference.clone();
    let now = now();
    let (device, pending) = state
        .db
        .write(move |tx| {
            let credential = match crate::auth::credential_for(tx, &digest)? {
                Ok(credential) => credential,
                Err(refused) => return Ok(Err(refused)),
            };
            // A device key beats for its own device; an org key for any of its org's.
            let device_id = match credential.device_id {
                Some(own) if credential.kind == KeyKind::Device => own,
                _ => match devices::find(tx, &credential.org_id, &lookup)? {
                    Some(device) => device.id,
                    None => return Ok(Ok(None)),
                },
            };
            let target = devices::BeatTarget {
                org_id: &credential.org_id,
                device_id: &device_id,
                reference: &lookup,
            };
            let heartbeat = devices::Heartbeat {
                status: beat.status,
                metrics_json: &metrics_json,
                metadata_patch_json: metadata_patch_json.as_deref(),
                now,
            };
            let Some(device) = devices::record_heartbeat(tx, &target, &heartbeat)? else {
                return Ok(Ok(None));
            };
            // Only a device that says it is taking part is offered a round.
            let pending = match beat.status {
                DeviceStatus::Active => {
                    rounds::pending_for(tx, &credential.org_id, &device.id, &device.platform)?
                }
                DeviceStatus::Inactive => None,
            };
            Ok(Ok(Some((device, pending))))
        })
        .await??
        .ok_or_else(|| device_not_found(&reference))?;
    let message = pending
        .as_ref()
        .map(|(_, number)| format!("Training round {number} is awaiting your participation."));

    Ok(HttpResponse::Ok().json(HeartbeatAck {
        status: &device.status,
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
