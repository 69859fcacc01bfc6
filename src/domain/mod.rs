//! Newtypes that parse, not validate: once a value is one of these, nothing downstream
//! checks it again.

mod deployment;
mod device;
mod key;
mod org;
mod paging;
mod round;
mod sql;
mod time;

pub use deployment::{DeploymentTarget, PolicyName, Sha256Hex, VersionName, check_label};
pub use device::{DeviceIdentifier, DeviceStatus, JsonObject, Platform, json_kind};
pub use key::{ApiKey, KeyKind};
pub use org::OrgId;
pub use paging::{Limit, Offset};
pub use round::{
    ClipNorm, DeadlineSeconds, MaxSteps, MinDevices, ModelId, NoiseSigma, RoundStatus, SampleCount,
    TargetPlatforms,
};
pub use time::{Timestamp, now};
