//! Registering again: the SDKs register on every launch (Python `configure()` sends its
//! persisted installation id as `device_identifier` and `installation_id` each time), and
//! a device that bootstrapped registers with its own access token (`OctomilControl`).
//! Such a registration of an identifier already taken answers the existing device
//! instead of a 409, when the request proves it comes from that device: its own
//! credential, or the installation id it registered with (docs/api.md, "Registering
//! again"). Everything else keeps [`devices::register_within_quota`]'s rules.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::devices::{self, Device, NewRegistration, Refusal};
use super::events::{self, NewEvent};
use super::{Conn, keys};
use crate::domain::{KeyKind, Timestamp};

/// What the registering request proves about an existing device of its identifier.
#[derive(Debug, Clone)]
pub enum Proof {
    /// Nothing (the org's secret key, or no `installation_id`): a taken identifier is a
    /// 409.
    None,
    /// The body's `installation_id` (a publishable key's or an anonymous registration):
    /// the same installation when it equals the one the device registered with.
    Installation(String),
    /// A device's own key or access token, by its device's id: it registers only its
    /// own device.
    OwnDevice(String),
}

/// What a registration did.
#[derive(Debug)]
pub enum Registered {
    /// A new device, with the registration's key.
    New(Device),
    /// The existing device registered again. `key_issued`: the registration's key is now
    /// the device's one key (the ones before are revoked); false for a device's own
    /// credential, which keeps working and is not replaced.
    Again { device: Device, key_issued: bool },
}

/// Registers `new`, or registers its existing device again when `proof` shows the
/// request comes from it, writing `device.reregistered`. A taken identifier without
/// that proof is [`Refusal::Taken`]; a device's own credential naming any other
/// identifier is [`Refusal::NotOwnDevice`].
pub fn register(
    conn: &Conn,
    new: &NewRegistration,
    proof: &Proof,
    now: Timestamp,
) -> Result<Registered, Refusal> {
    let existing = match proof {
        Proof::None => None,
        Proof::Installation(_) | Proof::OwnDevice(_) => {
            devices::find(conn, &new.org_id, new.identifier.as_str())?
        }
    };
    let Some(device) = existing else {
        if let Proof::OwnDevice(_) = proof {
            return Err(Refusal::NotOwnDevice {
                identifier: new.identifier.clone(),
            });
        }
        return devices::register_within_quota(conn, new, now).map(Registered::New);
    };
    let how = match proof {
        Proof::OwnDevice(own) if *own == device.id => "own_credential",
        Proof::OwnDevice(_) => {
            return Err(Refusal::NotOwnDevice {
                identifier: new.identifier.clone(),
            });
        }
        Proof::Installation(claimed) if same_installation(&device, claimed) => "installation_id",
        Proof::Installation(_) | Proof::None => {
            return Err(Refusal::Taken {
                org_id: new.org_id.clone(),
                identifier: new.identifier.clone(),
            });
        }
    };
    let key_issued = how == "installation_id";
    let mut data = json!({
        "device_id": device.identifier.as_str(),
        "platform": new.platform.as_str(),
        "proof": how,
    });
    if key_issued {
        let revoked = conn.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
            &[&device.id, &now],
        )?;
        let key_id = format!("key_{}", uuid::Uuid::now_v7().simple());
        keys::insert(
            conn,
            &keys::NewKey {
                id: &key_id,
                org_id: device.org_id.as_str(),
                kind: KeyKind::Device,
                device_id: Some(&device.id),
                prefix: new.key.display_prefix(),
                digest: &new.key.digest(),
                now,
            },
        )?;
        data["key_id"] = json!(key_id);
        data["key_prefix"] = json!(new.key.display_prefix());
        data["revoked_keys"] = json!(revoked);
    }
    events::append(
        conn,
        &NewEvent {
            org_id: device.org_id.as_str(),
            kind: "device.reregistered",
            device_id: Some(&device.id),
            at: now,
            data: &data,
        },
    )?;
    Ok(Registered::Again { device, key_issued })
}

/// Whether `claimed` is the installation id the device registered with (kept in its
/// metadata), compared without an early exit: the id is what proves the installation.
fn same_installation(device: &Device, claimed: &str) -> bool {
    let Ok(metadata) = serde_json::from_str::<serde_json::Value>(device.metadata.get()) else {
        return false;
    };
    let Some(stored) = metadata.get("installation_id").and_then(|v| v.as_str()) else {
        return false;
    };
    if stored.is_empty() || claimed.is_empty() {
        return false;
    }
    let (a, b) = (Sha256::digest(stored), Sha256::digest(claimed));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
