//! Device tokens as the SDKs use them: bootstrap tokens minted with the secret key, traded
//! for a device's access and refresh tokens (`device-auth/bootstrap`), refreshed with
//! rotation and reuse detection (`device-auth/refresh`, the browser's `auth/refresh`), and
//! revoked (`device-auth/revoke`, `auth/revoke`).
//!
//! Every token answer has the same shape, the union of what each SDK requires: Python's
//! `DeviceTokenState.from_response` needs `access_token, refresh_token, org_id,
//! device_identifier` and an ISO `expires_at` (or `expires_in`); iOS also needs
//! `token_type` and `scopes`; the browser reads `token`, `expires_at`, `refresh_token`.

pub mod bootstrap;
pub mod mint;
pub mod refresh;
pub mod revoke;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{DeviceIdentifier, OrgId, Timestamp};
use crate::store::tokens::Pair;

/// A new access and refresh token for a device.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "access_token": "edg_at_0190f5a0000070008000000000000001Xq3v9LmN2pR7sT1uW4yZ6aB8cD0eF2gH",
    "token": "edg_at_0190f5a0000070008000000000000001Xq3v9LmN2pR7sT1uW4yZ6aB8cD0eF2gH",
    "refresh_token": "edg_rt_Kp4mW9xQ2vB7nL1zR8tY3uE6iO0aS5dF",
    "token_type": "Bearer",
    "expires_at": "2026-02-23T17:30:00Z",
    "expires_in": 3600,
    "refresh_expires_at": "2026-03-25T16:30:00Z",
    "org_id": "org_demo",
    "id": "0190f5a0-0000-7000-8000-000000000001",
    "device_id": "laptop-001",
    "device_identifier": "laptop-001",
    "scopes": ["devices:write"]
})))]
pub struct TokenAnswer<'a> {
    /// Works wherever the device's key works, until `expires_at`.
    access_token: &'a str,
    /// The same as `access_token`, under the browser SDK's name.
    token: &'a str,
    /// Trade it once at `POST /api/v1/device-auth/refresh`; a second use revokes the family.
    refresh_token: &'a str,
    /// Always `Bearer`.
    token_type: &'static str,
    /// When the access token stops working.
    expires_at: Timestamp,
    /// Seconds from now until `expires_at`.
    expires_in: i64,
    /// When the refresh token stops working.
    refresh_expires_at: Timestamp,
    org_id: &'a OrgId,
    /// The device's server UUID.
    #[schema(format = Uuid)]
    id: &'a str,
    /// The device's identifier (the reference's name).
    device_id: &'a DeviceIdentifier,
    device_identifier: &'a DeviceIdentifier,
    /// The scopes the bootstrap asked for, echoed (devreg does not enforce scopes).
    scopes: Vec<String>,
}

/// The device a pair was issued for.
pub struct Issued {
    pub pair: Pair,
    pub org_id: OrgId,
    pub device_uuid: String,
    pub identifier: DeviceIdentifier,
    pub now: Timestamp,
}

impl Issued {
    pub fn answer(&self) -> TokenAnswer<'_> {
        let scopes = serde_json::from_str(&self.pair.scopes_json).unwrap_or_default();
        TokenAnswer {
            access_token: self.pair.access.expose(),
            token: self.pair.access.expose(),
            refresh_token: self.pair.refresh.expose(),
            token_type: "Bearer",
            expires_at: self.pair.access_expires_at,
            expires_in: self.pair.access_expires_at.0 - self.now.0,
            refresh_expires_at: self.pair.refresh_expires_at,
            org_id: &self.org_id,
            id: &self.device_uuid,
            device_id: &self.identifier,
            device_identifier: &self.identifier,
            scopes,
        }
    }
}

/// The identifier of the device whose UUID is `id`.
pub(crate) fn identifier_of(
    conn: &crate::store::Conn,
    id: &str,
) -> Result<DeviceIdentifier, crate::store::StoreError> {
    conn.query_row(
        "SELECT identifier FROM devices WHERE id = ?1",
        &[&id],
        |r| r.get(0),
    )
}
