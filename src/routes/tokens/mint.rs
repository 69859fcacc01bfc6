//! `POST /api/v1/device-auth/bootstrap-tokens`

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{BootstrapMint, OrgId, Timestamp};
use crate::error::ApiError;
use crate::routes::{parse_json_object, same_org};
use crate::state::AppState;
use crate::store::tokens;

pub const ACCESS: Access = Access {
    action: "minting bootstrap tokens",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// A bootstrap token to mint; every field is optional and the body may be empty.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"ttl_seconds": 600, "max_uses": 1})))]
pub struct MintRequest {
    /// Seconds until the token expires: 1 to 2592000 (30 days). Default 3600.
    #[schema(minimum = 1, maximum = 2592000)]
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    ttl_seconds: Option<u32>,
    /// How many bootstraps it may serve: 1 to 1000000. Default 1.
    #[schema(minimum = 1, maximum = 1000000)]
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    max_uses: Option<u32>,
    /// Informative; must be the key's org when sent.
    org_id: Option<String>,
}

/// The bootstrap token, shown once.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "token": "edg_bt_Vb7nL1zR8tY3uE6iO0aS5dFKp4mW9xQ2",
    "expires_at": "2026-02-23T17:30:00Z",
    "org_id": "org_demo",
    "max_uses": 1,
    "prefix": "edg_bt_Vb7nL1"
})))]
struct Minted<'a> {
    /// Hand it to an app; send it as `Authorization: Bearer` to `device-auth/bootstrap`.
    token: &'a str,
    expires_at: Timestamp,
    org_id: &'a OrgId,
    max_uses: u32,
    /// What operators and logs may show of it.
    prefix: &'a str,
}

/// Mint a bootstrap token
///
/// A token the org's backend hands to an app, which trades it at
/// `POST /api/v1/device-auth/bootstrap` for the device's access and refresh tokens
/// (registering the device if it is new). Single-use and valid for an hour unless asked
/// otherwise. Only its digest is stored: the token is shown once, here.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "device tokens",
    request_body(content = Option<MintRequest>, description = "Optional lifetime and uses."),
    responses((status = 201, description = "Minted.", body = Minted)),
)]
pub async fn mint_bootstrap_token(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: MintRequest = parse_json_object(&body)?.unwrap_or_default();
    same_org(
        &credential,
        request.org_id.as_deref(),
        "mint bootstrap tokens for",
    )?;
    let mint =
        BootstrapMint::new(request.ttl_seconds, request.max_uses).map_err(ApiError::BadRequest)?;
    let now = state.clock.now();
    let org = credential.org_id.clone();
    let minted = state
        .db
        .write(move |tx| tokens::mint_bootstrap(tx, org.as_str(), &mint, now))
        .await?;
    Ok(HttpResponse::Created().json(Minted {
        token: minted.token.expose(),
        expires_at: minted.expires_at,
        org_id: &credential.org_id,
        max_uses: mint.max_uses,
        prefix: minted.token.display_prefix(),
    }))
}
