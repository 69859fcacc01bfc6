//! Newtypes that parse, not validate: once a value is one of these, nothing downstream
//! checks it again.

mod deployment;
mod device;
mod fleet;
mod key;
mod org;
mod paging;
mod round;
mod sql;
mod time;
mod token;

pub use deployment::{DeploymentTarget, PolicyName, Sha256Hex, VersionName, check_label};
pub use device::{DeviceIdentifier, DeviceStatus, JsonObject, Platform, json_kind};
pub use fleet::{
    Connectivity, ConnectivityRule, LabelFilter, Labels, check_label_key, check_label_value,
};
pub use key::{ApiKey, KeyKind};
pub use org::OrgId;
pub use paging::{Limit, Offset};
pub use round::{
    ClipNorm, DeadlineSeconds, MaxSteps, MinDevices, ModelId, NoiseSigma, RoundStatus, SampleCount,
    TargetPlatforms,
};
pub use time::{Timestamp, now};
pub use token::{Token, TokenKind};

/// `text` in double quotes, with quotes and control characters escaped as JSON does:
/// what a message shows of a value the client sent (never Rust's `{:?}`).
pub fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}
