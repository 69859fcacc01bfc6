//! The device a request acts on, by the one rule every device-scoped operation follows:
//! [`DeviceRef`] (a UUID, or an identifier in any Unicode spelling) within the caller's
//! org, and a device credential only for its own device ([`acting_device`]). Below every
//! other resource's store code, which resolves its device here.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{Conn, Row, StoreError};
use crate::domain::{Acting, DeviceIdentifier, DeviceStatus, OrgId, Platform, Timestamp};

/// A device as stored. JSON columns stay raw text: they go to the client as they are.
#[derive(Debug)]
pub struct Device {
    pub id: String,
    pub org_id: OrgId,
    pub identifier: DeviceIdentifier,
    pub platform: Platform,
    pub status: DeviceStatus,
    pub capabilities: Box<RawValue>,
    pub metadata: Box<RawValue>,
    pub metrics: Option<Box<RawValue>>,
    pub last_heartbeat: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const DEVICE_COLUMNS: &str = "id, org_id, identifier, platform, status, capabilities, metadata, \
                              metrics, last_heartbeat, created_at, updated_at";

pub(super) fn device_from_row(row: &Row<'_>) -> Result<Device, StoreError> {
    Ok(Device {
        id: row.get(0)?,
        org_id: row.get(1)?,
        identifier: row.get(2)?,
        platform: row.get(3)?,
        status: row.get(4)?,
        capabilities: row.json(5)?,
        metadata: row.json(6)?,
        metrics: row.json_opt(7)?,
        last_heartbeat: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

/// What a `{device_id}` path segment names, by the one rule every route follows
/// (docs/api.md, "Device paths"): a segment that parses as a UUID in any spelling
/// (hyphenated or not, any case, braced, `urn:uuid:`) names the device of the org with
/// that `id` if there is one; otherwise the device whose identifier is the segment
/// (compared in NFC, as identifiers are stored).
#[derive(Debug)]
pub struct DeviceRef<'a> {
    /// The segment in NFC, for the identifier comparison.
    pub identifier: Cow<'a, str>,
    /// The segment as a device id (lowercase, hyphenated), if it parses as a UUID.
    pub id: Option<String>,
}

impl<'a> DeviceRef<'a> {
    pub fn parse(segment: &'a str) -> DeviceRef<'a> {
        DeviceRef {
            identifier: DeviceIdentifier::normalized(segment),
            id: uuid::Uuid::try_parse(segment)
                .ok()
                .map(|u| u.hyphenated().to_string()),
        }
    }
}

/// Why a caller cannot act on the device its request names.
#[derive(Debug, thiserror::Error)]
pub enum NotActing {
    /// No such device in the caller's org, or (for a device credential) another device:
    /// one answer for both, so a key learns nothing of devices it may not touch. Holds
    /// the name as sent.
    #[error("no device {0:?} in this key's org")]
    NotFound(String),
    /// The device credential's own device is gone.
    #[error("the credential's device no longer exists")]
    OwnDeviceGone,
    /// An org key named no device where the operation needs one.
    #[error("no device named")]
    Unnamed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for NotActing {
    fn is_database_failure(&self) -> bool {
        matches!(self, NotActing::Store(e) if e.is_database_failure())
    }
}

/// The device `acting` may act on: the one rule behind every device-scoped operation.
/// A named device is found by [`DeviceRef`]'s rule (its UUID, or its identifier in any
/// Unicode spelling) in the caller's org; a device credential acts only on its own
/// device, so another device is [`NotActing::NotFound`] as if it did not exist. With no
/// name, a device credential acts on its own device; an org key must name one.
pub fn acting_device(conn: &Conn, acting: &Acting) -> Result<Device, NotActing> {
    let org_id = acting.org_id();
    let own = acting.credential.own_device();
    let device = match (&acting.named, own) {
        (Some(named), _) => {
            find(conn, org_id, named)?.ok_or_else(|| NotActing::NotFound(named.clone()))?
        }
        (None, Some(own)) => find_by_id(conn, org_id, own)?.ok_or(NotActing::OwnDeviceGone)?,
        (None, None) => return Err(NotActing::Unnamed),
    };
    match (own, &acting.named) {
        (Some(own), Some(named)) if device.id != own => Err(NotActing::NotFound(named.clone())),
        _ => Ok(device),
    }
}

/// [`acting_device`]'s rule for a write that reads nothing else of the device: its id,
/// without a read where the request names a device credential's own device by its UUID
/// (what every SDK's heartbeat does). That the device still exists is then for the
/// write to find: it matches no row.
pub fn acting_device_id(conn: &Conn, acting: &Acting) -> Result<String, NotActing> {
    if let (Some(own), Some(named)) = (acting.credential.own_device(), &acting.named)
        && DeviceRef::parse(named).id.as_deref() == Some(own)
    // A UUID names the device with that id before any whose identifier it is.
    {
        return Ok(own.to_owned());
    }
    if let (Some(own), None) = (acting.credential.own_device(), &acting.named) {
        return Ok(own.to_owned());
    }
    acting_device(conn, acting).map(|device| device.id)
}

/// The device of `org_id` whose id is `id`.
pub(super) fn find_by_id(
    conn: &Conn,
    org_id: &str,
    id: &str,
) -> Result<Option<Device>, StoreError> {
    conn.query_opt(
        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1 AND org_id = ?2"),
        &[&id, &org_id],
        device_from_row,
    )
}

/// Finds the device of `org_id` that a path segment names ([`DeviceRef`]'s rule).
pub fn find(conn: &Conn, org_id: &str, reference: &str) -> Result<Option<Device>, StoreError> {
    find_ref(conn, org_id, &DeviceRef::parse(reference))
}

/// [`find`] for a segment already parsed.
pub fn find_ref(
    conn: &Conn,
    org_id: &str,
    reference: &DeviceRef<'_>,
) -> Result<Option<Device>, StoreError> {
    if let Some(id) = &reference.id {
        let by_id = conn.query_opt(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1 AND org_id = ?2"),
            &[id, &org_id],
            device_from_row,
        )?;
        if by_id.is_some() {
            return Ok(by_id);
        }
    }
    conn.query_opt(
        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE org_id = ?1 AND identifier = ?2"),
        &[&org_id, &reference.identifier],
        device_from_row,
    )
}
