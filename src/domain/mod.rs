//! Newtypes that parse, not validate: once a value is one of these, nothing downstream
//! checks it again.

mod device;
mod fleet;
mod key;
mod org;
mod paging;
mod round;
mod sql;
mod time;

pub use device::{DeviceIdentifier, DeviceStatus, JsonObject, Platform, json_kind};
pub use fleet::{
    Connectivity, ConnectivityRule, LabelFilter, Labels, check_label_key, check_label_value,
};
pub use key::{ApiKey, KeyKind};
pub use org::OrgId;
pub use paging::{Limit, Offset};
pub use round::{MinDevices, ModelId, RoundStatus, TargetPlatforms};
pub use time::{Timestamp, now};
