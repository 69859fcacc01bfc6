//! Who is acting: a verified credential, and the device a request names for it to act on.
//! Below `store/` so that every transaction function takes the same [`Acting`] and one
//! resolver (`store::devices::acting_device`) applies the own-device rule for all of them.

use super::{KeyKind, OrgId};

/// A valid, unrevoked key (or a live access token) and what it belongs to.
#[derive(Debug, Clone)]
pub struct Credential {
    pub key_id: String,
    pub org_id: OrgId,
    pub kind: KeyKind,
    /// The device a device key (or a device's access token) belongs to.
    pub device_id: Option<String>,
}

impl Credential {
    /// The device this credential belongs to, if it is a device's own.
    pub fn own_device(&self) -> Option<&str> {
        match self.kind {
            KeyKind::Device => self.device_id.as_deref(),
            KeyKind::Secret | KeyKind::Publishable => None,
        }
    }
}

/// What an operation acts on, declared beside its credential kinds in its access rule.
/// The document's 404 for a device comes from it, and the access test calls every
/// device-scoped operation with another device's credential and every spelling of an
/// identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The caller's org as a whole: lists, models, deployments, rounds an operator runs.
    Org,
    /// The device the path's `{device_id}` names (its identifier in any Unicode spelling,
    /// or its UUID).
    PathDevice,
    /// The device the body (or query) names as `device_id` or `device_identifier`; with
    /// a device credential and no name, that credential's own device.
    BodyDevice,
    /// The credential's own device; the request names none (iOS's control calls).
    OwnDevice,
    /// Nothing of an org's: health, the document, test control.
    Server,
}

impl Target {
    /// Whether the request names the device it acts on (in its path, or its body or
    /// query), and so is answered 404 for a device the caller cannot see. The
    /// credential's own device is named by no request: without it the key is a 401.
    pub fn named_by_request(self) -> bool {
        matches!(self, Target::PathDevice | Target::BodyDevice)
    }

    /// Whether the operation acts on one device.
    pub fn is_device(self) -> bool {
        matches!(
            self,
            Target::PathDevice | Target::BodyDevice | Target::OwnDevice
        )
    }
}

/// A verified caller and the device its request names, not yet looked up: what every
/// transaction function that acts on a device takes. `store::devices::acting_device`
/// turns it into the device, or the refusal, by one rule.
#[derive(Debug, Clone)]
pub struct Acting {
    pub credential: Credential,
    /// The device named in the path or body, as sent (an identifier or a UUID).
    pub named: Option<String>,
}

impl Acting {
    pub fn org_id(&self) -> &str {
        self.credential.org_id.as_str()
    }
}
