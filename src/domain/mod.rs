//! Newtypes that parse, not validate: once a value is one of these, nothing downstream
//! checks it again.

mod credential;
mod deployment;
mod device;
mod fleet;
mod json;
mod key;
mod org;
mod paging;
mod random;
mod round;
mod sql;
mod time;
mod token;

pub use credential::{Acting, Credential, Target};
pub use deployment::{
    DeploymentTarget, DownloadUrl, PolicyName, Sha256Hex, VersionName, check_label,
};
pub use device::{DeviceIdentifier, DeviceStatus, JsonObject, Platform, json_kind};
pub use fleet::{
    Connectivity, ConnectivityRule, LabelFilter, Labels, check_label_key, check_label_value,
};
pub use json::{ObjectValue, RawLabels, RawObject, RawObjectList};
pub use key::{ApiKey, KeyKind};
pub use org::OrgId;
pub use paging::{Limit, Offset};
pub use round::{
    ClipNorm, DeadlineSeconds, MaxSteps, MinDevices, ModelId, NoiseSigma, RoundStatus, SampleCount,
    TargetPlatforms,
};
pub use time::{Timestamp, now};
pub use token::{BootstrapMint, Token, TokenKind};

/// `text` in double quotes, with quotes and control characters escaped as JSON does:
/// what a message shows of a value the client sent (never Rust's `{:?}`).
pub fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// An optional whole number as JSON may write it: `5` or `5.0` (JSON Schema's `integer`
/// includes both); a fraction, or a value out of `T`'s range, is refused naming the value.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize;
    let Some(value) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    // At most i64::MAX: what the database stores, and what `format: int64` says.
    let whole = value
        .as_u64()
        .filter(|n| *n <= i64::MAX as u64)
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < i64::MAX as f64)
                .map(|f| f as u64)
        });
    whole
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!("must be a whole number in range, got {value}"))
        })
}

/// [`whole_number`] for a field that is required.
pub fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    whole_number(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("must be a whole number, got null"))
}
