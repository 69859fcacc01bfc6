//! An org's settings for its devices, set by the operator and read by the SDKs: the
//! device policy (`GET /api/v1/settings/org/{org}/device-policy`: the battery level and
//! network a device needs before it trains or downloads) and the map from a machine
//! identifier to a device profile (`GET /api/v1/devices/profiles`, iOS). One row per org,
//! absent until the operator sets something; until then the defaults below answer.

use serde_json::Value;
use serde_json::value::RawValue;

use super::events::{self, NewEvent};
use super::{Conn, StoreError};
use crate::domain::Timestamp;

/// The battery level (percent) below which a device does not train, until the operator
/// sets another.
pub const DEFAULT_BATTERY_THRESHOLD: i64 = 20;
/// The network a device needs, until the operator sets another.
pub const DEFAULT_NETWORK_POLICY: &str = "wifi_only";
/// How long iOS keeps the profile map before it asks again.
pub const DEFAULT_PROFILES_TTL_SECONDS: i64 = 86_400;

/// An org's device policy, the defaults where the operator set nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePolicy {
    /// 0 to 100.
    pub battery_threshold: i64,
    /// `any`, `wifi_only` or `cellular_allowed`.
    pub network_policy: String,
    pub sampling_policy: Option<String>,
    pub training_window: Option<String>,
    /// When the operator last set it; `None` while the defaults answer.
    pub updated_at: Option<Timestamp>,
}

impl DevicePolicy {
    /// The policy of an org whose operator set none.
    pub fn default_policy() -> DevicePolicy {
        DevicePolicy {
            battery_threshold: DEFAULT_BATTERY_THRESHOLD,
            network_policy: DEFAULT_NETWORK_POLICY.to_owned(),
            sampling_policy: None,
            training_window: None,
            updated_at: None,
        }
    }
}

/// An org's machine-to-profile map (`{"iPhone16,1": "iphone_15_pro"}`), empty until the
/// operator sets one.
#[derive(Debug)]
pub struct DeviceProfiles {
    /// A JSON object of strings.
    pub profiles: Box<RawValue>,
    pub ttl_seconds: i64,
    pub updated_at: Option<Timestamp>,
}

/// The org's device policy.
pub fn device_policy(conn: &Conn, org_id: &str) -> Result<DevicePolicy, StoreError> {
    let stored = conn.query_opt(
        "SELECT battery_threshold, network_policy, sampling_policy, training_window, \
         policy_updated_at FROM org_device_settings \
         WHERE org_id = ?1 AND policy_updated_at IS NOT NULL",
        &[&org_id],
        |row| {
            Ok(DevicePolicy {
                battery_threshold: row.get(0)?,
                network_policy: row.get(1)?,
                sampling_policy: row.get(2)?,
                training_window: row.get(3)?,
                updated_at: row.get(4)?,
            })
        },
    )?;
    Ok(stored.unwrap_or_else(DevicePolicy::default_policy))
}

/// Replaces the org's device policy with `policy` (its `updated_at` is ignored: `now`),
/// and writes `org.device_policy_updated` with the new values.
pub fn set_device_policy(
    conn: &Conn,
    org_id: &str,
    policy: &DevicePolicy,
    now: Timestamp,
) -> Result<DevicePolicy, StoreError> {
    conn.execute(
        "INSERT INTO org_device_settings (org_id, battery_threshold, network_policy, \
         sampling_policy, training_window, policy_updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (org_id) DO UPDATE SET battery_threshold = excluded.battery_threshold, \
         network_policy = excluded.network_policy, sampling_policy = excluded.sampling_policy, \
         training_window = excluded.training_window, \
         policy_updated_at = excluded.policy_updated_at",
        &[
            &org_id,
            &policy.battery_threshold,
            &policy.network_policy,
            &policy.sampling_policy,
            &policy.training_window,
            &now,
        ],
    )?;
    let stored = DevicePolicy {
        updated_at: Some(now),
        ..policy.clone()
    };
    events::append(
        conn,
        &NewEvent {
            org_id,
            kind: "org.device_policy_updated",
            device_id: None,
            at: now,
            data: &serde_json::json!({
                "battery_threshold": stored.battery_threshold,
                "network_policy": stored.network_policy,
                "sampling_policy": stored.sampling_policy,
                "training_window": stored.training_window,
            }),
        },
    )?;
    Ok(stored)
}

/// The org's profile map.
pub fn device_profiles(conn: &Conn, org_id: &str) -> Result<DeviceProfiles, StoreError> {
    let stored = conn.query_opt(
        "SELECT profiles, profiles_ttl_seconds, profiles_updated_at FROM org_device_settings \
         WHERE org_id = ?1 AND profiles_updated_at IS NOT NULL",
        &[&org_id],
        |row| {
            Ok(DeviceProfiles {
                profiles: row.json(0)?,
                ttl_seconds: row.get(1)?,
                updated_at: row.get(2)?,
            })
        },
    )?;
    match stored {
        Some(profiles) => Ok(profiles),
        None => Ok(DeviceProfiles {
            profiles: super::engine::raw_json_text("{}".to_owned())?,
            ttl_seconds: DEFAULT_PROFILES_TTL_SECONDS,
            updated_at: None,
        }),
    }
}

/// Replaces the org's profile map (`profiles`, a JSON object of strings) and its time to
/// live, and writes `org.device_profiles_updated` with how many machines it maps.
pub fn set_device_profiles(
    conn: &Conn,
    org_id: &str,
    profiles: &serde_json::Map<String, Value>,
    ttl_seconds: i64,
    now: Timestamp,
) -> Result<DeviceProfiles, StoreError> {
    let text = Value::Object(profiles.clone()).to_string();
    conn.execute(
        "INSERT INTO org_device_settings (org_id, profiles, profiles_ttl_seconds, \
         profiles_updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (org_id) DO UPDATE SET profiles = excluded.profiles, \
         profiles_ttl_seconds = excluded.profiles_ttl_seconds, \
         profiles_updated_at = excluded.profiles_updated_at",
        &[&org_id, &text, &ttl_seconds, &now],
    )?;
    events::append(
        conn,
        &NewEvent {
            org_id,
            kind: "org.device_profiles_updated",
            device_id: None,
            at: now,
            data: &serde_json::json!({"machines": profiles.len(), "ttl_seconds": ttl_seconds}),
        },
    )?;
    Ok(DeviceProfiles {
        profiles: super::engine::raw_json_text(text)?,
        ttl_seconds,
        updated_at: Some(now),
    })
}

/// Forgets the org's device settings (an ephemeral server's reset of one org).
pub fn delete_org(conn: &Conn, org_id: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM org_device_settings WHERE org_id = ?1",
        &[&org_id],
    )?;
    Ok(())
}
