//! `PUT /api/v1/settings/org/{org_id}/device-policy`

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{PolicyBody, own_org};
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::device_settings::{self, DevicePolicy};

pub const ACCESS: Access = Access {
    action: "setting the device policy",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// The networks a policy may name (the generated contract's `DeviceNetworkPolicy`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum NetworkPolicy {
    Any,
    WifiOnly,
    CellularAllowed,
}

impl NetworkPolicy {
    fn as_str(self) -> &'static str {
        match self {
            NetworkPolicy::Any => "any",
            NetworkPolicy::WifiOnly => "wifi_only",
            NetworkPolicy::CellularAllowed => "cellular_allowed",
        }
    }
}

/// The whole policy: a member left out takes its default.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"battery_threshold": 30, "network_policy": "any",
    "training_window": "22:00-06:00"})))]
struct SetPolicy {
    /// 0 to 100; default 20.
    #[schema(minimum = 0, maximum = 100)]
    // 56.0 is an integer to JSON Schema too.
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    battery_threshold: Option<i64>,
    /// Default `wifi_only`.
    network_policy: Option<NetworkPolicy>,
    /// Free text for the SDKs, at most 255 characters.
    #[schema(max_length = 255)]
    sampling_policy: Option<String>,
    /// Free text for the SDKs (e.g. `22:00-06:00`), at most 255 characters.
    #[schema(max_length = 255)]
    training_window: Option<String>,
}

fn text(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > 255 || v.chars().any(char::is_control) => {
            Err(ApiError::BadRequest(format!(
                "{field} must be at most 255 characters without control characters, got {}",
                quoted(&v)
            )))
        }
        other => Ok(other),
    }
}

impl TryFrom<SetPolicy> for DevicePolicy {
    type Error = ApiError;

    fn try_from(set: SetPolicy) -> Result<Self, ApiError> {
        let defaults = DevicePolicy::default_policy();
        let battery_threshold = match set.battery_threshold {
            Some(n) if !(0..=100).contains(&n) => {
                return Err(ApiError::BadRequest(format!(
                    "battery_threshold must be a percentage from 0 to 100, got {n}"
                )));
            }
            Some(n) => n,
            None => defaults.battery_threshold,
        };
        Ok(DevicePolicy {
            battery_threshold,
            network_policy: set
                .network_policy
                .map_or(defaults.network_policy, |p| p.as_str().to_owned()),
            sampling_policy: text("sampling_policy", set.sampling_policy)?,
            training_window: text("training_window", set.training_window)?,
            updated_at: None,
        })
    }
}

/// Set the org's device policy
///
/// Replaces the policy the SDKs read: members left out take their defaults. Writes an
/// `org.device_policy_updated` event.
#[utoipa::path(put, path = crate::routes::FROM_TABLE, tag = "settings",
    params(("org_id" = String, Path, description = "The key's org.")),
    request_body(content = Option<SetPolicy>, description = "The policy; no body is `{}`."),
    responses(
        (status = 200, description = "The policy now.", body = PolicyBody),
        (status = 404, description = "The path names an org other than the key's."),
    ),
)]
pub async fn set_device_policy(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let org_id = own_org(&credential, &path)?;
    let request: SetPolicy = parse_json_object(&body)?.unwrap_or_default();
    let policy = DevicePolicy::try_from(request)?;
    let now = state.clock.now();
    let org = org_id.clone();
    let policy = state
        .db
        .write(move |tx| device_settings::set_device_policy(tx, &org, &policy, now))
        .await?;
    Ok(HttpResponse::Ok().json(PolicyBody::of(org_id, policy)))
}
