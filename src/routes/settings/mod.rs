//! An org's settings for its devices, which the operator sets with the secret key and
//! the SDKs read: the device policy (`/api/v1/settings/org/{org_id}/device-policy`, iOS
//! and Android) and the machine-to-profile map (`/api/v1/devices/profiles`, iOS).

pub mod policy_get;
pub mod policy_put;
pub mod profiles_get;
pub mod profiles_put;

use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Credential;
use crate::domain::{RawObject, Timestamp};
use crate::error::ApiError;
use crate::routes::quoted;
use crate::store::device_settings::{DevicePolicy, DeviceProfiles};

/// The org a settings path names, which must be the key's own: another org's settings
/// are as absent as another org's device (a 404, not a 403).
pub fn own_org(credential: &Credential, named: &str) -> Result<String, ApiError> {
    if named == credential.org_id.as_str() {
        return Ok(named.to_owned());
    }
    Err(ApiError::NotFound(format!(
        "no org {} for this key: it belongs to org {}",
        quoted(named),
        credential.org_id
    )))
}

/// The device policy, as iOS (`DevicePolicyResponse`, APIModels+Server.swift:278-294)
/// and Android (`DevicePolicyResponse` DTO) decode it.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "org_id": "org_demo", "battery_threshold": 20, "network_policy": "wifi_only",
    "sampling_policy": null, "training_window": null, "updated_at": null
})))]
pub struct PolicyBody {
    org_id: String,
    /// The battery level (percent, 0 to 100) below which a device should not train.
    battery_threshold: i64,
    /// `any`, `wifi_only` or `cellular_allowed`.
    network_policy: String,
    sampling_policy: Option<String>,
    training_window: Option<String>,
    /// When the operator last set the policy; null while the defaults answer.
    updated_at: Option<Timestamp>,
}

impl PolicyBody {
    pub fn of(org_id: String, policy: DevicePolicy) -> PolicyBody {
        PolicyBody {
            org_id,
            battery_threshold: policy.battery_threshold,
            network_policy: policy.network_policy,
            sampling_policy: policy.sampling_policy,
            training_window: policy.training_window,
            updated_at: policy.updated_at,
        }
    }
}

/// The profile map, as iOS's `DeviceProfileMapping` (DeviceProfileClient.swift:10-25)
/// decodes it: all four members are required there, `fetched_at` (Unix seconds) and
/// `etag` included.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "profiles": {"iPhone16,1": "iphone_15_pro"}, "ttl_seconds": 86400,
    "fetched_at": 1795640253, "etag": "\"3f2a9c0d1e4b5a67\"", "updated_at": "2026-11-25T20:57:33Z"
})))]
pub struct ProfilesBody<'a> {
    /// Machine identifier (`iPhone16,1`) to profile (`iphone_15_pro`).
    profiles: RawObject<'a>,
    /// How long a device keeps the map before asking again.
    ttl_seconds: i64,
    /// When this answer was made, Unix seconds.
    fetched_at: i64,
    /// The map's version, also sent as the `ETag` header.
    etag: String,
    /// When the operator last set the map; null while it is empty by default.
    updated_at: Option<Timestamp>,
}

impl<'a> ProfilesBody<'a> {
    pub fn of(profiles: &'a DeviceProfiles, now: Timestamp) -> ProfilesBody<'a> {
        ProfilesBody {
            profiles: RawObject(&profiles.profiles),
            ttl_seconds: profiles.ttl_seconds,
            fetched_at: now.0,
            etag: etag(profiles),
            updated_at: profiles.updated_at,
        }
    }
}

/// A strong ETag over the map and its time to live.
pub fn etag(profiles: &DeviceProfiles) -> String {
    let key = crate::store::telemetry::key64(&format!(
        "{}|{}",
        profiles.profiles.get(),
        profiles.ttl_seconds
    ));
    format!("\"{:016x}\"", key as u64)
}
