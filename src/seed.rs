//! Seed files and resets: the orgs, keys and devices an ephemeral server starts with and
//! returns to at every `POST /_devreg/reset`, so a test's fixtures have known data and
//! known keys.
//!
//! ```json
//! {
//!   "orgs": [
//!     {
//!       "id": "org_acme",
//!       "secret_key": "edg_live_AcmeSecretKey0123456789abcdef",
//!       "publishable_key": "oct_pub_live_AcmePublishableKey0123456789",
//!       "devices": [
//!         {
//!           "device_id": "laptop-001",
//!           "platform": "python",
//!           "capabilities": {"cpu": "4-core"},
//!           "metadata": {"os_version": "14.2"},
//!           "api_key": "edg_dev_Laptop001DeviceKey0123456789"
//!         }
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! Every field but `id` and `device_id` is optional. An org that exists already (such as
//! `org_demo`) gains the listed keys and devices. Unknown fields are an error here, unlike
//! in API requests: a typo in a fixture should not pass silently.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::admin::OrgKeys;
use crate::domain::{ApiKey, DeviceIdentifier, JsonObject, KeyKind, OrgId, Platform, now};
use crate::store::{StoreError, devices, keys, orgs};

/// The contents of a seed file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub orgs: Vec<SeedOrg>,
}

/// One org of a seed file, its known keys and its devices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOrg {
    pub id: OrgId,
    #[serde(default, deserialize_with = "secret_key")]
    pub secret_key: Option<ApiKey>,
    #[serde(default, deserialize_with = "publishable_key")]
    pub publishable_key: Option<ApiKey>,
    #[serde(default)]
    pub devices: Vec<SeedDevice>,
}

/// One device of a seed file. Without `api_key` the device gets a key nobody knows; the
/// org's secret key still reaches it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDevice {
    #[serde(alias = "device_identifier")]
    pub device_id: DeviceIdentifier,
    #[serde(default)]
    pub platform: Platform,
    #[serde(default)]
    pub capabilities: JsonObject,
    #[serde(default)]
    pub metadata: JsonObject,
    #[serde(default, deserialize_with = "device_key")]
    pub api_key: Option<ApiKey>,
}

fn key_of<'de, D: Deserializer<'de>>(d: D, kind: KeyKind) -> Result<Option<ApiKey>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    match ApiKey::parse(&text) {
        Ok(key) if key.kind() == kind => Ok(Some(key)),
        _ => Err(serde::de::Error::custom(format!(
            "must be a {} key: {} followed by 22 to 128 letters or digits",
            kind.as_str(),
            kind.prefix()
        ))),
    }
}

fn secret_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiKey>, D::Error> {
    key_of(d, KeyKind::Secret)
}

fn publishable_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiKey>, D::Error> {
    key_of(d, KeyKind::Publishable)
}

fn device_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiKey>, D::Error> {
    key_of(d, KeyKind::Device)
}

impl Seed {
    /// Reads and checks a seed file. The error names the file, the line and column, and
    /// the field (`orgs[0].devices[1].api_key`).
    pub fn load(path: &Path) -> Result<Seed, String> {
        let file = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read seed file {file}: {e}"))?;
        let seed = Seed::parse(&text).map_err(|e| format!("seed file {file}: {e}"))?;
        Ok(seed)
    }

    /// Parses and checks a seed file's text; see [`Seed::load`].
    pub fn parse(text: &str) -> Result<Seed, String> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let seed: Seed = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let (line, column) = (inner.line(), inner.column());
            // serde_json appends the position; it is given first instead.
            let message = inner.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            if path == "." {
                format!("line {line} column {column}: {message}")
            } else {
                format!("line {line} column {column}: {path}: {message}")
            }
        })?;
        seed.check()?;
        Ok(seed)
    }

    /// What JSON cannot say: no org twice, no identifier twice in an org, no key twice.
    fn check(&self) -> Result<(), String> {
        let mut orgs_seen = HashMap::new();
        let mut keys_seen: HashMap<[u8; 32], String> = HashMap::new();
        let mut key_once = |key: &Option<ApiKey>, path: String| match key {
            Some(key) => match keys_seen.insert(key.digest(), path.clone()) {
                Some(first) => Err(format!("{path}: the same key is already given at {first}")),
                None => Ok(()),
            },
            None => Ok(()),
        };
        for (i, org) in self.orgs.iter().enumerate() {
            if let Some(first) = orgs_seen.insert(org.id.as_str(), i) {
                return Err(format!(
                    "orgs[{i}].id: org {} is already given at orgs[{first}]",
                    org.id
                ));
            }
            key_once(&org.secret_key, format!("orgs[{i}].secret_key"))?;
            key_once(&org.publishable_key, format!("orgs[{i}].publishable_key"))?;
            let mut devices_seen = HashMap::new();
            for (j, device) in org.devices.iter().enumerate() {
                if let Some(first) = devices_seen.insert(device.device_id.as_str(), j) {
                    return Err(format!(
                        "orgs[{i}].devices[{j}].device_id: {} is already given at \
                         orgs[{i}].devices[{first}]",
                        crate::domain::quoted(device.device_id.as_str())
                    ));
                }
                key_once(&device.api_key, format!("orgs[{i}].devices[{j}].api_key"))?;
            }
        }
        Ok(())
    }

    /// The state an ephemeral server returns to at a reset: the org first start created,
    /// with the keys it printed, then this seed.
    pub fn with_first_org(&self, first: &OrgKeys) -> Seed {
        let mut orgs = vec![SeedOrg {
            id: first.org_id.clone(),
            secret_key: Some(first.secret_key.clone()),
            publishable_key: Some(first.publishable_key.clone()),
            devices: Vec::new(),
        }];
        orgs.extend(self.orgs.iter().cloned());
        Seed { orgs }
    }

    /// An ephemeral server's reset, in one transaction: without `only_org`, deletes every
    /// org, key, device, round and event and stores the seed again; with it, deletes that
    /// org's devices (and their keys, rounds, models and events; its org keys stay) and
    /// stores its part of the seed again. `false` when `only_org` names no org.
    pub fn reset(
        &self,
        conn: &crate::store::Conn,
        only_org: Option<&str>,
    ) -> Result<bool, StoreError> {
        match only_org {
            None => orgs::delete_everything(conn)?,
            Some(org) if orgs::exists(conn, org)? => {
                devices::delete_org_devices(conn, org)?;
            }
            Some(_) => return Ok(false),
        }
        self.apply(conn, only_org)?;
        Ok(true)
    }

    /// Stores the seed's orgs (or only `only_org`'s part): creates each org that does not
    /// exist, adds each key not stored yet, registers each device.
    /// [`StoreError::Duplicate`] when a key of the seed belongs to another org already, or
    /// a device's identifier or key is taken.
    pub fn apply(
        &self,
        conn: &crate::store::Conn,
        only_org: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now();
        for org in self
            .orgs
            .iter()
            .filter(|o| only_org.is_none_or(|only| o.id.as_str() == only))
        {
            if !orgs::exists(conn, org.id.as_str())? {
                orgs::insert(conn, &org.id, now)?;
            }
            for key in org.secret_key.iter().chain(&org.publishable_key) {
                match keys::find_by_digest(conn, &key.digest())? {
                    Some(stored) if stored.org_id == org.id => {}
                    Some(_) => return Err(StoreError::Duplicate),
                    None => {
                        orgs::add_key(conn, &org.id, key, now)?;
                    }
                }
            }
            for device in &org.devices {
                let key = device
                    .api_key
                    .clone()
                    .unwrap_or_else(|| ApiKey::generate(KeyKind::Device));
                devices::register(
                    conn,
                    &devices::Registration {
                        org_id: org.id.as_str(),
                        identifier: &device.device_id,
                        platform: &device.platform,
                        capabilities_json: &Value::Object(device.capabilities.0.clone())
                            .to_string(),
                        metadata_json: &Value::Object(device.metadata.0.clone()).to_string(),
                        labels: &crate::domain::Labels::default(),
                        key: &key,
                    },
                    now,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_device_key_is_named_with_its_line_and_field() {
        let text = r#"{
  "orgs": [
    {"id": "org_acme", "devices": [
      {"device_id": "a"},
      {"device_id": "b", "api_key": "edg_live_NotADeviceKey0123456789abc"}
    ]}
  ]
}"#;
        let err = Seed::parse(text).unwrap_err();
        assert!(err.starts_with("line 5 column"), "{err}");
        assert!(err.contains("orgs[0].devices[1].api_key"), "{err}");
        assert!(err.contains("must be a device key"), "{err}");
    }

    #[test]
    fn unknown_fields_and_duplicates_are_refused() {
        let typo = Seed::parse(r#"{"orgs": [{"id": "o", "device": []}]}"#).unwrap_err();
        assert!(
            typo.contains("orgs[0]") && typo.contains("unknown field"),
            "{typo}"
        );
        let twice = Seed::parse(
            r#"{"orgs": [{"id": "o", "devices": [{"device_id": "a"}, {"device_id": "a"}]}]}"#,
        )
        .unwrap_err();
        assert!(twice.starts_with("orgs[0].devices[1].device_id"), "{twice}");
    }

    #[test]
    fn broken_json_names_the_line() {
        let err = Seed::parse("{\n  \"orgs\": [\n}").unwrap_err();
        assert!(err.starts_with("line 3 column"), "{err}");
    }
}
