//! `POST /api/v1/devices/register`

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{
    ApiKey, DeviceIdentifier, DeviceStatus, JsonObject, KeyKind, Labels, OrgId, Platform, Timestamp,
};
use crate::error::ApiError;
use crate::routes::{one_identifier, parse_json_object};
use crate::schema;
use crate::state::{AppState, StorageCaps};
use crate::store::devices;
use crate::store::relaunch::{self, Proof, Registered};

pub const ACCESS: Access = Access {
    action: "registering a device",
    allows: &[
        Allow::Secret,
        Allow::Publishable,
        Allow::Device,
        Allow::Anonymous,
    ],
    target: Target::Org,
};

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
    /// The device's labels.
    #[schema(schema_with = crate::schema::labels_patch_schema)]
    labels: Option<Value>,
    #[serde(flatten)]
    #[schema(schema_with = register_sdk_fields)]
    other: Map<String, Value>,
}

fn register_sdk_fields() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    schema::sdk_fields_schema(&[(
        SDK_METADATA_FIELDS,
        "Sent by the SDKs; any JSON value, kept in the device's metadata (null is ignored).",
    )])
}

impl RegisterRequest {
    /// The device's metadata: the `metadata` object with the SDK fields merged in.
    fn metadata(&mut self) -> Map<String, Value> {
        let mut metadata = self.metadata.take().map(|m| m.0).unwrap_or_default();
        for field in SDK_METADATA_FIELDS {
            if let Some(value) = self.other.remove(*field).filter(|v| !v.is_null()) {
                metadata.insert((*field).to_owned(), value);
            }
        }
        metadata
    }

    /// The registration the rest of the body asks for, of `identifier` into `org_id`: its
    /// labels, and its capabilities and metadata within the storage caps, with a new
    /// device key.
    fn into_registration(
        mut self,
        identifier: DeviceIdentifier,
        org_id: String,
        caps: StorageCaps,
    ) -> Result<devices::NewRegistration, ApiError> {
        let labels = match self.labels.take() {
            None | Some(Value::Null) => Labels::default(),
            Some(value) => Labels::parse(&value).map_err(ApiError::BadRequest)?,
        };
        let capabilities_json =
            Value::Object(self.capabilities.take().unwrap_or_default().0).to_string();
        let metadata_json = Value::Object(self.metadata()).to_string();
        StorageCaps::check(
            "capabilities",
            &capabilities_json,
            caps.capabilities_bytes,
            "max-capabilities-bytes",
        )?;
        StorageCaps::check(
            "metadata",
            &metadata_json,
            caps.metadata_bytes,
            "max-metadata-bytes",
        )?;
        Ok(devices::NewRegistration {
            org_id,
            identifier,
            platform: self.platform.take().unwrap_or_default(),
            capabilities_json,
            metadata_json,
            labels,
            key: ApiKey::generate(KeyKind::Device),
            quota: caps.devices_per_org,
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
#[schema(examples(json!({
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
    "heartbeat_interval_seconds": 60,
    "expires_at": "2036-11-23T20:57:33Z"
})))]
struct RegisteredDevice<'a> {
    /// The server-generated UUID; the SDKs use it in paths.
    #[schema(format = Uuid)]
    id: &'a str,
    device_id: &'a DeviceIdentifier,
    /// The same as `device_id`, under the SDKs' name.
    device_identifier: &'a DeviceIdentifier,
    org_id: &'a OrgId,
    /// The device's own key (`edg_dev_…`): heartbeat and retrieve this device.
    #[schema(examples("edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN"))]
    api_key: &'a str,
    /// The same as `api_key`, under the name some SDKs read.
    access_token: &'a str,
    platform: &'a Platform,
    #[schema(value_type = Object)]
    capabilities: &'a RawValue,
    labels: &'a Labels,
    /// `active`.
    status: DeviceStatus,
    created_at: Timestamp,
    /// The same as `created_at`.
    registered_at: Timestamp,
    updated_at: Timestamp,
    /// Seconds between heartbeats that the server asks for.
    #[schema(minimum = 1)]
    heartbeat_interval_seconds: u32,
    /// When `access_token` stops being good, for the Node and browser SDKs' `configure()`,
    /// which require it: a device key does not expire, so this is ten years on. Absent
    /// for the Python SDK, whose `configure()` reads it with `float()` and treats absent
    /// as "does not expire" (see docs/api.md, "Telling the SDKs apart").
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<Timestamp>,
}

/// A device registered again (docs/api.md, "Registering again"): the existing device,
/// and the new key when the registration proved its installation.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "01a2147f-daeb-7763-909c-9e315a041b31",
    "device_id": "5f0c6e1a-2b7d-4c39-9e8f-0a1b2c3d4e5f",
    "device_identifier": "5f0c6e1a-2b7d-4c39-9e8f-0a1b2c3d4e5f",
    "org_id": "org_demo",
    "api_key": "edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN",
    "access_token": "edg_dev_c7501lyv5D4HOLnXTzTdUPF1CmOInkwN",
    "platform": "python",
    "status": "active",
    "created_at": "2026-11-25T20:57:33Z",
    "registered_at": "2026-11-25T20:57:33Z",
    "updated_at": "2026-11-25T20:57:33Z",
    "heartbeat_interval_seconds": 60
})))]
struct RegisteredAgain<'a> {
    #[schema(format = Uuid)]
    id: &'a str,
    device_id: &'a DeviceIdentifier,
    device_identifier: &'a DeviceIdentifier,
    org_id: &'a OrgId,
    /// The device's new key, its only one now (the ones before are revoked): only when
    /// the registration proved its installation. A device registering with its own key
    /// or access token keeps that one, and gets none.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    /// The same as `api_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<&'a str>,
    platform: &'a Platform,
    status: DeviceStatus,
    created_at: Timestamp,
    /// The same as `created_at`.
    registered_at: Timestamp,
    updated_at: Timestamp,
    #[schema(minimum = 1)]
    heartbeat_interval_seconds: u32,
    /// As in the first registration's answer, with a new key and not to the Python SDK.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<Timestamp>,
}

/// How long the Node and browser SDKs are told a device key lasts: it never expires, and
/// ten years is a date every parser reads.
const DEVICE_KEY_EXPIRES_AFTER_SECONDS: i64 = 10 * 365 * 24 * 60 * 60;

/// Whether the registration comes from the Python SDK, which parses `expires_at` with
/// `float()` (octomil/configure.py `_do_register`): an RFC 3339 string would make it fail
/// and register again into a 409. Its `configure()` sends `platform: "python"` through
/// httpx (`User-Agent: python-httpx/…`); Python's other HTTP clients say `python-requests`
/// and `Python-urllib`. Node (`X-API-Key`, `platform` from `os.platform()`) and the browser
/// (`platform: "browser"`) are neither.
fn reads_expiry_as_unix_seconds(req: &HttpRequest, platform: &Platform) -> bool {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    platform.as_str() == "python" || user_agent.to_ascii_lowercase().starts_with("python-")
}

/// Register a device
///
/// Registers a device and returns its API key, shown this once. With a secret or
/// publishable key the device joins the key's org; without a key (open registration, the
/// default) it joins the body's `org_id` if that org exists, else `org_demo`. A second
/// registration of the same identifier in the same org is a 409 and changes nothing,
/// unless it proves it comes from that device (docs/api.md, "Registering again"): a
/// publishable key's or an anonymous registration carrying the `installation_id` the
/// device registered with gets 200, the existing device and a new key (the old ones are
/// revoked); a device's own key or access token gets 200 and the device, and keeps
/// working. The org's secret key always gets the 409.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "devices",
    request_body(content = RegisterRequest, description = "The device."),
    responses(
        (status = 201, description = "Registered; `Location` is the device's URL.",
            body = RegisteredDevice,
            headers(("Location" = String, description = "`/api/v1/devices/{id}`")),
            links(("RetrieveDevice" = (operation_id = "get_device", parameters(("device_id" =
                    "$response.body#/id")), description = "Retrieve the device just registered.")),
                ("SendHeartbeat" = (operation_id = "record_heartbeat", parameters(("device_id" =
                    "$response.body#/id")), description = "Heartbeat the device just registered.")),
                ("SendHeartbeatByPost" = (operation_id = "record_heartbeat_post", parameters((
                    "device_id" = "$response.body#/id")),
                    description = "Heartbeat it as the Python SDK does.")),
                ("ListDevices" = (operation_id = "list_devices", parameters(("org_id" =
                    "$response.body#/org_id")), description = "List the devices of its org.")))),
        (status = 200, description = "Registered again: the existing device \
            (`docs/api.md`, \"Registering again\").", body = RegisteredAgain),
        (status = 401, description = "The key is malformed, unknown or revoked; or there is \
            none and open registration is off."),
        (status = 404, description = "Without a key: the body's `org_id` names no org."),
        (status = 403, description = "A device's own key or access token naming another \
            identifier."),
        (status = 409, description = "The identifier is taken in the org, and the request \
            does not prove it comes from that device."),
    ),
)]
pub async fn register_device(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.check(caller)?;
    let mut request: RegisterRequest = parse_json_object(&body)?.ok_or_else(missing_identifier)?;
    let identifier = one_identifier(request.device_id.take(), request.device_identifier.take())?
        .ok_or_else(missing_identifier)?;
    let proof = match &credential {
        Some(c) if c.kind == KeyKind::Secret => Proof::None,
        Some(c) if c.kind == KeyKind::Device => {
            Proof::OwnDevice(c.own_device().unwrap_or_default().to_owned())
        }
        _ => request
            .other
            .get("installation_id")
            .and_then(Value::as_str)
            .map_or(Proof::None, |id| Proof::Installation(id.to_owned())),
    };
    let org_id = match credential {
        Some(credential) => credential.org_id.as_str().to_owned(),
        // Anonymous registration is served only while open registration is on.
        None if !state.open_registration => {
            return Err(ApiError::Unauthorized(
                "open registration is off on this server: send the org's secret or publishable \
                 key as Authorization: Bearer <key>"
                    .to_owned(),
            ));
        }
        None => request
            .org_id
            .clone()
            .unwrap_or_else(|| OrgId::demo().as_str().to_owned()),
    };
    let new = request.into_registration(identifier, org_id, state.caps)?;
    let python = reads_expiry_as_unix_seconds(&req, &new.platform);
    let (key, labels) = (new.key.clone(), new.labels.clone());
    let now = state.clock.now();
    let registered = state
        .db
        .write(move |tx| relaunch::register(tx, &new, &proof, now))
        .await;
    if let Err(devices::Refusal::OverQuota { .. }) = registered {
        state.metrics.count_quota_refusal();
    }
    let device = match registered? {
        Registered::New(device) => device,
        Registered::Again { device, key_issued } => {
            let key = key_issued.then(|| key.expose());
            return Ok(HttpResponse::Ok()
                .insert_header((header::LOCATION, format!("/api/v1/devices/{}", device.id)))
                .json(RegisteredAgain {
                    id: &device.id,
                    device_id: &device.identifier,
                    device_identifier: &device.identifier,
                    org_id: &device.org_id,
                    api_key: key,
                    access_token: key,
                    platform: &device.platform,
                    status: device.status,
                    created_at: device.created_at,
                    registered_at: device.created_at,
                    updated_at: device.updated_at,
                    heartbeat_interval_seconds: state.heartbeat_interval_seconds,
                    expires_at: (!python && key_issued)
                        .then(|| Timestamp(now.0 + DEVICE_KEY_EXPIRES_AFTER_SECONDS)),
                }));
        }
    };

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
            labels: &labels,
            status: device.status,
            created_at: device.created_at,
            registered_at: device.created_at,
            updated_at: device.updated_at,
            heartbeat_interval_seconds: state.heartbeat_interval_seconds,
            expires_at: (!python)
                .then(|| Timestamp(device.created_at.0 + DEVICE_KEY_EXPIRES_AFTER_SECONDS)),
        }))
}
