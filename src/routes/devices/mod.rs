//! The Devices API: register, list, retrieve, heartbeat. A heartbeat's answer names the
//! training round pending for the device, if any (see `routes::rounds`).

pub mod get;
pub mod heartbeat;
pub mod list;
pub mod register;

use crate::auth::Credential;
use crate::domain::KeyKind;
use crate::store::devices::Device;

/// The own-device rule, the second step after [`crate::auth::Access`]: a device key acts
/// only on its own device; an org key on any device of its org.
pub fn owns(credential: &Credential, device: &Device) -> bool {
    credential.kind != KeyKind::Device || credential.device_id.as_deref() == Some(&device.id)
}
