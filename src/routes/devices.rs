//! The Devices API: register, list, retrieve, heartbeat. A heartbeat's answer names the
//! training round pending for the device, if any (see `routes::rounds`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::parse_json_object;
use crate::app::AppState;
use crate::auth::{Caller, Credential};
use crate::domain::{
    ApiKey, DeviceIdentifier, DeviceStatus, JsonObject, KeyKind, Limit, Offset, OrgId, Platform,
    Timestamp, now,
};
use crate::error::{ApiError, ErrorBody};
use crate::openapi;
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

/// A device to register. `device_id` or its SDK alias `device_identifier` is required;
/// when both are sent they must be equal. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "device_id": "laptop-001",
    "platform": "python",
    "capabilities": {"cpu": "4-core", "memory_gb": 8, "gpu": false}
})))]
struct RegisterRequest {
    /// The device's identifier, unique within its org (the reference's name).
    device_id: Option<DeviceIdentifier>,
    /// The same identifier under the SDKs' name.
    device_identifier: Option<DeviceIdentifier>,
    /// Default `python`.
    platform: Option<Platform>,
    /// Free-form JSON describing the device's hardware. Default `{}`.
    capabilities: Option<JsonObject>,
    /// Without a key, the org to join, which must exist (default `org_demo`); with a key,
    /// the device joins the key's org and this is only informative.
    org_id: Option<String>,
    /// Kept as the device's metadata, with the SDK fields below merged in.
    metadata: Option<JsonObject>,
    #[serde(flatten)]
    #[schema(schema_with = register_sdk_fields)]
    other: Map<String, Value>,
}

fn register_sdk_fields() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    openapi::sdk_fields_schema(&[(
        SDK_METADATA_FIELDS,
        "Sent by the SDKs; any JSON value, kept in the device's metadata (null is ignored).",
    )])
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

/// A registered device, with its key: shown this once, never again.
#[derive(Serialize, ToSchema)]
struct RegisteredDevice<'a> {
    /// The server-generated UUID; the SDKs use it in paths.
    #[schema(format = Uuid)]
    id: &'a str,
    #[schema(value_type = DeviceIdentifier)]
    device_id: &'a str,
    /// The same as `device_id`, under the SDKs' name.
    #[schema(value_type = DeviceIdentifier)]
    device_identifier: &'a str,
    #[schema(value_type = OrgId)]
    org_id: &'a str,
    /// The device's own key (`edg_dev_…`): heartbeat and retrieve this device.
    #[schema(examples("edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN"))]
    api_key: &'a str,
    /// The same as `api_key`, under the name some SDKs read.
    access_token: &'a str,
    #[schema(value_type = Platform)]
    platform: &'a str,
    #[schema(value_type = Object)]
    capabilities: &'a RawValue,
    /// `active`.
    #[schema(value_type = DeviceStatus)]
    status: &'a str,
    created_at: Timestamp,
    /// The same as `created_at`.
    registered_at: Timestamp,
    updated_at: Timestamp,
    /// Seconds between heartbeats that the server asks for.
    #[schema(minimum = 1)]
    heartbeat_interval_seconds: u32,
}

/// `POST /api/v1/devices/register`
#[utoipa::path(
    post,
    path = "/api/v1/devices/register",
    tag = "devices",
    summary = "Register a device",
    description = "Registers a device and returns its API key, shown this once. With a secret \
        or publishable key the device joins the key's org; without a key (open registration, \
        the default) it joins the body's `org_id` if that org exists, else `org_demo`. A second \
        registration of the same identifier in the same org is a 409 and changes nothing.\n\n\
        Credentials: secret key, publishable key, or none while open registration is on.",
    request_body(content = RegisterRequest, description = "The device."),
    responses(
        (status = 201, description = "Registered; `Location` is the device's URL.",
            body = RegisteredDevice,
            headers(("Location" = String, description = "`/api/v1/devices/{id}`")),
            links(
                ("RetrieveDevice" = (operation_id = "get_device",
                    parameters(("device_id" = "$response.body#/id")),
                    description = "Retrieve the device just registered.")),
                ("SendHeartbeat" = (operation_id = "record_heartbeat",
                    parameters(("device_id" = "$response.body#/id")),
                    description = "Heartbeat the device just registered.")),
                ("SendHeartbeatByPost" = (operation_id = "record_heartbeat_post",
                    parameters(("device_id" = "$response.body#/id")),
                    description = "Heartbeat it as the Python SDK does.")),
                ("ListDevices" = (operation_id = "list_devices",
                    parameters(("org_id" = "$response.body#/org_id")),
                    description = "List the devices of its org."))
            ),
            example = json!({
                "id": "01a2147f-daeb-7763-909c-9e315a041b31",
                "device_id": "laptop-001",
                "device_identifier": "laptop-001",
                "org_id": "org_demo",
                "api_key": "edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN",
                "access_token": "edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN",
                "platform": "python",
                "capabilities": {"cpu": "4-core", "memory_gb": 8, "gpu": false},
                "status": "active",
                "created_at": "2026-11-25T20:57:33Z",
                "registered_at": "2026-11-25T20:57:33Z",
                "updated_at": "2026-11-25T20:57:33Z",
                "heartbeat_interval_seconds": 60
            })),
        (status = 400, description = "A field is missing or invalid.", body = ErrorBody),
        (status = 401, description = "The key is malformed, unknown or revoked; or there is \
            none and open registration is off.", body = ErrorBody),
        (status = 403, description = "A device key cannot register devices.", body = ErrorBody),
        (status = 404, description = "Without a key: the body's `org_id` names no org.",
            body = ErrorBody),
        (status = 409, description = "The identifier is taken in the org.", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 503, description = "The database is busy or full; retry later.",
            body = ErrorBody),
    ),
    security((), ("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["secret", "publishable", "none"]))),
)]
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
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// The org whose devices to list: the key's org (another org's is a 403).
    #[param(required = true, value_type = String, min_length = 1, example = "org_demo")]
    org_id: Option<String>,
    /// Only devices of this platform.
    #[param(value_type = Platform, required = false)]
    platform: Option<String>,
    /// Only devices with this status.
    #[param(value_type = DeviceStatus, required = false)]
    status: Option<String>,
    /// Most devices to return.
    #[param(schema_with = openapi::limit_schema, required = false)]
    limit: Option<String>,
    /// Devices to skip.
    #[param(schema_with = openapi::offset_schema, required = false)]
    offset: Option<String>,
    /// Keyset pagination: the `id` of the last device of the previous page; the page
    /// starts after it (and `offset` counts from there).
    #[param(value_type = uuid::Uuid, required = false)]
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

/// A page of an org's devices, in registration order.
#[derive(Serialize, ToSchema)]
struct DeviceList {
    devices: Vec<DeviceListItem>,
    /// Every device that matches the filters, on all pages.
    total: u64,
    /// The `limit` applied.
    limit: u32,
    /// The `offset` applied.
    offset: u64,
}

/// A device as the list shows it.
#[derive(Serialize, ToSchema)]
struct DeviceListItem {
    #[schema(format = Uuid)]
    id: String,
    #[schema(value_type = DeviceIdentifier)]
    device_identifier: String,
    /// The same as `device_identifier`, under the reference's name.
    #[schema(value_type = DeviceIdentifier)]
    device_id: String,
    #[schema(value_type = OrgId)]
    org_id: String,
    #[schema(value_type = Platform)]
    platform: String,
    #[schema(value_type = DeviceStatus)]
    status: String,
    /// The last heartbeat; null before the first.
    last_seen_at: Option<Timestamp>,
}

/// `GET /api/v1/devices`
#[utoipa::path(
    get,
    path = "/api/v1/devices",
    tag = "devices",
    summary = "List devices",
    description = "Returns an org's devices, oldest registration first (ties by `id`), with \
        optional filters. `total` counts every match. Page with `offset`, or with `after`: \
        the `id` of the last device of the previous page.\n\n\
        Credentials: the org's secret key.",
    params(ListParams),
    responses(
        (status = 200, description = "A page of devices.", body = DeviceList,
            example = json!({
                "devices": [{
                    "id": "01a2147f-daeb-7763-909c-9e315a041b31",
                    "device_identifier": "iphone-001",
                    "device_id": "iphone-001",
                    "org_id": "org_demo",
                    "platform": "ios",
                    "status": "active",
                    "last_seen_at": "2026-02-23T16:30:00Z"
                }],
                "total": 1,
                "limit": 20,
                "offset": 0
            })),
        (status = 400, description = "`org_id` is missing, or a filter, `limit` or `offset` \
            is invalid.", body = ErrorBody),
        (status = 401, description = "No key, or a malformed, unknown or revoked one.",
            body = ErrorBody),
        (status = 403, description = "Not the org's secret key, or `org_id` is another org.",
            body = ErrorBody),
        (status = 404, description = "`after` names no device of the org.", body = ErrorBody),
        (status = 503, description = "The database is busy; retry later.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["secret"]))),
)]
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
            ApiError::NotFound(
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

/// A device in full.
#[derive(Serialize, ToSchema)]
struct DeviceDetail<'a> {
    #[schema(format = Uuid)]
    id: &'a str,
    #[schema(value_type = DeviceIdentifier)]
    device_id: &'a str,
    /// The same as `device_id`, under the SDKs' name.
    #[schema(value_type = DeviceIdentifier)]
    device_identifier: &'a str,
    #[schema(value_type = OrgId)]
    org_id: &'a str,
    #[schema(value_type = Platform)]
    platform: &'a str,
    #[schema(value_type = Object)]
    capabilities: &'a RawValue,
    /// What the SDKs sent about the device at registration and in heartbeats.
    #[schema(value_type = Object)]
    metadata: &'a RawValue,
    #[schema(value_type = DeviceStatus)]
    status: &'a str,
    /// Null before the first heartbeat.
    last_heartbeat: Option<Timestamp>,
    /// The latest heartbeat's metrics snapshot; null before the first heartbeat.
    #[schema(value_type = Option<Object>)]
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
#[utoipa::path(
    get,
    path = "/api/v1/devices/{device_id}",
    tag = "devices",
    summary = "Retrieve a device",
    description = "A device of the key's org, by its identifier or its UUID `id`.\n\n\
        Credentials: the org's secret key, or the device's own key.",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    responses(
        (status = 200, description = "The device.", body = DeviceDetail,
            links(
                ("SendHeartbeat" = (operation_id = "record_heartbeat",
                    parameters(("device_id" = "$response.body#/id")),
                    description = "Heartbeat this device.")),
                ("SendHeartbeatByPost" = (operation_id = "record_heartbeat_post",
                    parameters(("device_id" = "$response.body#/id")),
                    description = "Heartbeat it as the Python SDK does.")),
                ("ListDevices" = (operation_id = "list_devices",
                    parameters(("org_id" = "$response.body#/org_id")),
                    description = "List the devices of its org."))
            ),
            example = json!({
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
            })),
        (status = 401, description = "No key, or a malformed, unknown or revoked one.",
            body = ErrorBody),
        (status = 403, description = "A publishable key cannot read devices.", body = ErrorBody),
        (status = 404, description = "No such device in the key's org (or, for a device key, \
            another device).", body = ErrorBody),
        (status = 503, description = "The database is busy; retry later.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["secret", "device"]))),
)]
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
    openapi::sdk_fields_schema(&[
        (
            HEARTBEAT_TELEMETRY_FIELDS,
            "Telemetry the SDKs send at the top level; any JSON value, it joins the metrics \
             snapshot (`metrics` wins where names collide).",
        ),
        (
            HEARTBEAT_METADATA_FIELDS,
            "Any JSON value; updates the device's metadata (null is ignored).",
        ),
    ])
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

/// A heartbeat's answer: the fields every SDK reads, and the pending training round.
#[derive(Serialize, ToSchema)]
struct HeartbeatAck<'a> {
    /// The device's status after this heartbeat.
    #[schema(value_type = DeviceStatus)]
    status: &'a str,
    /// This heartbeat's time.
    last_heartbeat: Option<Timestamp>,
    /// The training round waiting for this device, or null.
    #[schema(format = Uuid)]
    pending_round_id: Option<String>,
    /// A sentence about the pending round for a person, or null.
    message: Option<String>,
    #[schema(format = Uuid)]
    id: &'a str,
    #[schema(value_type = DeviceIdentifier)]
    device_id: &'a str,
    #[schema(value_type = DeviceIdentifier)]
    device_identifier: &'a str,
    server_time: Timestamp,
    /// Always true.
    acknowledged: bool,
    /// Seconds until the next heartbeat the server asks for.
    #[schema(minimum = 1)]
    heartbeat_interval_seconds: u32,
}

/// `PUT` (and `POST`) `/api/v1/devices/{device_id}/heartbeat`
///
/// The hot path: the key is looked up inside the write itself, so a heartbeat costs one
/// trip to the writer thread and one `UPDATE` by primary key (for a device key).
#[utoipa::path(
    method(put, post),
    path = "/api/v1/devices/{device_id}/heartbeat",
    tag = "devices",
    operation_id = "record_heartbeat",
    summary = "Send a heartbeat",
    description = "Records that the device is alive, with its status and a metrics snapshot. \
        The answer names the oldest active training round that targets the device's platform \
        and that it has not joined, if the device is active. PUT is the reference's method; \
        POST, which the Python SDK sends, is the same.\n\n\
        Credentials: the device's own key, a publishable key of its org, or the org's secret \
        key.",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    request_body(content = Option<HeartbeatRequest>,
        description = "Optional: an empty body is a heartbeat with status `active`."),
    responses(
        (status = 200, description = "Recorded.", body = HeartbeatAck,
            example = json!({
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
            })),
        (status = 400, description = "The body is not a JSON object, or a field is invalid.",
            body = ErrorBody),
        (status = 401, description = "No key, or a malformed, unknown or revoked one.",
            body = ErrorBody),
        (status = 404, description = "No such device in the key's org (or, for a device key, \
            another device).", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 503, description = "The database is busy or full; retry later.",
            body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["device", "publishable", "secret"]))),
)]
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
