//! What models, versions and deployments are made of: a version name, a SHA-256 digest,
//! a policy token, a deployment target.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::device::{DeviceIdentifier, Platform, check_name_text};

/// A model version's name (`1.0.0`, `2026-11-rc1`): 1–64 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VersionName(String);

impl VersionName {
    pub const MAX_CHARS: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VersionName {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        check_name_text(&value, Self::MAX_CHARS)?;
        Ok(VersionName(value))
    }
}

impl From<VersionName> for String {
    fn from(value: VersionName) -> Self {
        value.0
    }
}

/// A SHA-256 digest as 64 hexadecimal digits, kept lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "must be 64 hexadecimal digits (a SHA-256 digest), got {}",
                Value::from(value)
            ));
        }
        Ok(Sha256Hex(value.to_ascii_lowercase()))
    }
}

impl From<Sha256Hex> for String {
    fn from(value: Sha256Hex) -> Self {
        value.0
    }
}

/// Where devices download an artifact: an absolute `http` or `https` URL (the scheme in
/// any case) with a host, and no spaces or control characters. Anything else a device
/// might be handed (`javascript:`, `file:`, `ftp:`, `data:`, a relative URL) is refused
/// here, once, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DownloadUrl(String);

impl DownloadUrl {
    /// [`DownloadUrl`]'s rule as the JSON Schema pattern the document gives it.
    /// The host part (up to the first `/`, `?` or `#`) has no `[` or `]`: an IPv6
    /// literal host is not taken, and a lone bracket there makes the URL unparseable to
    /// clients (Python's `urlsplit` raises "Invalid IPv6 URL").
    pub const PATTERN: &'static str = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@:\[\] \u0000-\u001F\u007F-\u009F][^/?#\[\] \u0000-\u001F\u007F-\u009F]*([/?#][^ \u0000-\u001F\u007F-\u009F]*)?$";

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DownloadUrl {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let refused = || {
            format!(
                "must be an absolute http or https URL with a host, got {}",
                Value::from(value.as_str())
            )
        };
        let (scheme, rest) = value.split_once("://").ok_or_else(refused)?;
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return Err(refused());
        }
        if rest.starts_with(['/', '?', '#', '@', ':']) || rest.is_empty() {
            return Err(refused());
        }
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if rest[..host_end].contains(['[', ']']) {
            return Err(format!(
                "must have a host without [ or ] (an IPv6 literal host is not taken), got {}",
                Value::from(value.as_str())
            ));
        }
        if let Some(c) = value.chars().find(|c| c.is_control() || *c == ' ') {
            return Err(format!(
                "must not contain spaces or control characters, found U+{:04X}",
                c as u32
            ));
        }
        Ok(DownloadUrl(value))
    }
}

impl From<DownloadUrl> for String {
    fn from(value: DownloadUrl) -> Self {
        value.0
    }
}

/// An activation policy or delivery mode: a lowercase token of 1–32 `[a-z0-9_-]`
/// (`immediate`, `next_launch`, `managed`, ...), passed to the SDKs as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PolicyName(String);

impl PolicyName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn named(text: &str) -> PolicyName {
        PolicyName(text.to_owned())
    }
}

impl TryFrom<String> for PolicyName {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let ok = (1..=32).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(format!(
                "must be a lowercase token of 1 to 32 characters [a-z0-9_-], got {}",
                Value::from(value)
            ));
        }
        Ok(PolicyName(value))
    }
}

impl From<PolicyName> for String {
    fn from(value: PolicyName) -> Self {
        value.0
    }
}

/// Which devices a deployment is for. Every part given must hold; none given: every
/// device of the org. `devices` names devices by UUID `id` or identifier (one that
/// matches no device is allowed: it may register later).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentTarget {
    #[serde(default)]
    pub devices: Vec<DeviceIdentifier>,
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(default, deserialize_with = "labels")]
    pub labels: Map<String, Value>,
}

/// `labels`: an object of string values, keys 1–63 `[a-z0-9._/-]` starting with a letter
/// or digit, values 0–63 characters without control characters (the contract's rule).
fn labels<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    let map = Map::<String, Value>::deserialize(d)?;
    for (key, value) in &map {
        check_label(key, value).map_err(serde::de::Error::custom)?;
    }
    Ok(map)
}

/// Checks one `KEY: VALUE` label of a target.
pub fn check_label(key: &str, value: &Value) -> Result<(), String> {
    let key_ok = (1..=63).contains(&key.len())
        && key.as_bytes()[0].is_ascii_alphanumeric()
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'/' | b'-')
        });
    if !key_ok {
        return Err(format!(
            "label key {} must be 1 to 63 characters [a-z0-9._/-] starting with a letter or digit",
            Value::from(key)
        ));
    }
    match value {
        Value::String(v) if v.chars().count() <= 63 && !v.chars().any(char::is_control) => Ok(()),
        _ => Err(format!(
            "label {} must have a string value of at most 63 characters without control \
             characters",
            Value::from(key)
        )),
    }
}
