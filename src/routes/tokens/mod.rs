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
use crate::error::ApiError;
use crate::routes::quoted;
use crate::store::tokens::{Issued, Refusal};

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
    /// Trade it once at `POST /api/v1/device-auth/refresh`; a second use revokes the family
    /// (one retry within 60 s of a lost answer excepted).
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

impl<'a> TokenAnswer<'a> {
    /// The answer for a pair issued at `now`.
    pub fn of(issued: &'a Issued, now: Timestamp) -> TokenAnswer<'a> {
        let scopes = serde_json::from_str(&issued.pair.scopes_json).unwrap_or_default();
        TokenAnswer {
            access_token: issued.pair.access.expose(),
            token: issued.pair.access.expose(),
            refresh_token: issued.pair.refresh.expose(),
            token_type: "Bearer",
            expires_at: issued.pair.access_expires_at,
            expires_in: issued.pair.access_expires_at.0 - now.0,
            refresh_expires_at: issued.pair.refresh_expires_at,
            org_id: &issued.org_id,
            id: &issued.device_id,
            device_id: &issued.identifier,
            device_identifier: &issued.identifier,
            scopes,
        }
    }
}

/// "this key belongs to org A; it cannot refresh tokens of org B", as `same_org` says it.
fn other_org(key_org: &OrgId, doing: &str, token_org: &OrgId) -> ApiError {
    ApiError::Forbidden(format!(
        "this key belongs to org {key_org}; it cannot {doing} org {token_org}"
    ))
}

/// The answer for each refusal of a token operation.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let device_required =
            || ApiError::BadRequest("device_identifier (or device_id) is required".to_owned());
        match refusal {
            Refusal::BootstrapUnknown => {
                ApiError::Unauthorized("the bootstrap token is not known to this server".to_owned())
            }
            Refusal::BootstrapExpired => {
                ApiError::Unauthorized("the bootstrap token has expired".to_owned())
            }
            Refusal::BootstrapUsedUp { max_uses } => ApiError::Unauthorized(format!(
                "the bootstrap token has been used up (it allows {max_uses} bootstrap{})",
                if max_uses == 1 { "" } else { "s" }
            )),
            Refusal::BootstrapOtherOrg { token_org, named } => ApiError::Forbidden(format!(
                "this bootstrap token belongs to org {token_org}; it cannot bootstrap a device \
                 of org {}",
                quoted(&named)
            )),
            Refusal::NoSuchDevice { device_id, org_id } => ApiError::NotFound(format!(
                "no device {device_id} in org {org_id}; send device_identifier to register a \
                 new one"
            )),
            Refusal::DeviceExists {
                identifier,
                device_id,
                org_id,
            } => ApiError::Conflict(format!(
                "device {} is already registered in org {org_id}; a bootstrap token only \
                 registers new devices, as it cannot prove the request comes from that \
                 device's installation. Use the device's own key (it works wherever its \
                 tokens would), or have an operator issue it a new key with the secret key: \
                 POST /api/v1/devices/{device_id}/keys",
                quoted(identifier.as_str())
            )),
            Refusal::NoDeviceNamed => device_required(),
            Refusal::OrgGone(org_id) => ApiError::NotFound(format!("org {org_id} does not exist")),
            Refusal::NoDeviceKey { device_id } => ApiError::Forbidden(format!(
                "device {device_id} has no valid key (its keys were revoked); issue it a new \
                 key before bootstrapping it"
            )),
            Refusal::RefreshUnknown => {
                ApiError::Unauthorized("the refresh token is not known to this server".to_owned())
            }
            Refusal::RefreshOtherOrg { key_org, token_org } => {
                other_org(&key_org, "refresh tokens of", &token_org)
            }
            Refusal::RevokeOtherOrg { key_org, token_org } => {
                other_org(&key_org, "revoke tokens of", &token_org)
            }
            Refusal::KeyRevoked => ApiError::Unauthorized(
                "the device's key has been revoked, which ends its tokens".to_owned(),
            ),
            Refusal::RefreshRevoked => {
                ApiError::Unauthorized("the refresh token has been revoked".to_owned())
            }
            Refusal::RefreshExpired { at } => ApiError::Unauthorized(format!(
                "the refresh token expired at {}. A device registered already cannot bootstrap \
                 again: an operator issues it a key (POST /api/v1/devices/{{id}}/keys), or \
                 deletes it so that it can",
                at.to_rfc3339()
            )),
            Refusal::Store(err) => err.into(),
        }
    }
}
