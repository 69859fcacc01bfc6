//! `POST /api/v1/device-auth/bootstrap`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::TokenAnswer;
use crate::auth::{self, Access, Allow, Target};
use crate::domain::{ApiKey, DeviceIdentifier, JsonObject, Platform, Token, TokenKind};
use crate::error::ApiError;
use crate::routes::{one_identifier, parse_json_object};
use crate::state::{AppState, TokenTtls};
use crate::store::tokens;

/// No API key: the bootstrap token in `Authorization: Bearer` is the credential, read by
/// the handler itself.
pub const ACCESS: Access = Access {
    action: "bootstrapping a device",
    allows: &[Allow::Bootstrap],
    target: Target::BodyDevice,
};

/// Longest access-token lifetime a bootstrap may ask for is the server's own.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "org_id": "org_demo",
    "device_identifier": "laptop-001",
    "scopes": ["devices:write"],
    "access_ttl_seconds": 900
})))]
struct BootstrapRequest {
    /// Must be the bootstrap token's org when sent (403 otherwise).
    org_id: Option<String>,
    /// The device's identifier; registered into the token's org (409 if it is there).
    device_identifier: Option<DeviceIdentifier>,
    /// The device's UUID `id` or its identifier.
    #[schema(min_length = 1)]
    device_id: Option<String>,
    /// Echoed in the answer; not enforced. Default `["devices:write"]`.
    scopes: Option<Vec<String>>,
    /// Seconds the access token lives: 1 to the server's --access-token-ttl (default 3600).
    #[schema(minimum = 1)]
    access_ttl_seconds: Option<u32>,
    /// For a new device; default `python`.
    platform: Option<Platform>,
    /// For a new device.
    capabilities: Option<JsonObject>,
    /// For a new device.
    metadata: Option<JsonObject>,
}

/// The bootstrap token the request presents. Anything else presented is refused as every
/// endpoint refuses it: a key (or a device's access token) is looked up first, so one
/// that is unknown or revoked is a 401, and only a valid one is the 403 of a kind this
/// operation does not take.
async fn bootstrap_token(state: &AppState, req: &HttpRequest) -> Result<Token, ApiError> {
    let needed = || {
        ApiError::Unauthorized(
            "a bootstrap token is required: send it as Authorization: Bearer edg_bt_…".to_owned(),
        )
    };
    let text = auth::presented_key(req)?.ok_or_else(needed)?;
    if TokenKind::of(text) == Some(TokenKind::Bootstrap) {
        return Token::parse(text).map_err(ApiError::Unauthorized);
    }
    let key = ApiKey::parse(text).map_err(|_| needed())?;
    let (digest, now) = (key.digest(), state.clock.now());
    let credential = state
        .db
        .read(move |conn| auth::credential_for(conn, &digest, now))
        .await?;
    auth::mark_verified(req);
    ACCESS.check_kind(credential.kind)?;
    Err(needed())
}

/// Trade a bootstrap token for device tokens
///
/// Presents a bootstrap token (`Authorization: Bearer edg_bt_…`) and the device, and
/// answers the device's first access token (which works wherever its key works) and
/// refresh token. The device is registered in the token's org; one the org has already
/// is a 409 (a bootstrap token, shared by every installation of an app, cannot prove it
/// is that device's). The
/// Python and iOS SDKs' `DeviceAuthClient` call this. Each success counts one of the
/// token's uses; a token past its uses or lifetime is a 401, as is a key this server does
/// not know; `org_id` naming another org is a 403. A `device_id` UUID of another org's
/// device is answered as one no device has.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "device tokens",
    request_body(content = BootstrapRequest, description = "The device."),
    responses(
        (status = 200, description = "The device's tokens.", body = TokenAnswer),
        (status = 401, description = "No bootstrap token, or one unknown, expired or used \
            up; or a key that is unknown or revoked."),
        (status = 403, description = "A valid secret, publishable or device key (bootstrapping \
            needs a bootstrap token), or `org_id` naming another org than the token's."),
        (status = 409, description = "The device is registered already: use its own key, \
            or issue it a new one."),
        (status = 404, description = "`device_id` is the UUID of no device of the token's \
            org (another org's devices included), and no `device_identifier` came to register \
            one."),
    ),
)]
pub async fn bootstrap_device(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // No `Caller`: the extractor would refuse the bootstrap token as a malformed API key.
    // The token is this operation's credential; a valid key is refused by ACCESS.
    let token = bootstrap_token(&state, &req).await?;
    let request: BootstrapRequest = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest("device_identifier (or device_id) is required".to_owned())
    })?;
    let command = command(&request, state.token_ttls, token.digest())?;
    let now = state.clock.now();
    let issued = state
        .db
        .write(move |tx| tokens::bootstrap(tx, &command, now))
        .await?;
    Ok(HttpResponse::Ok().json(TokenAnswer::of(&issued, now)))
}

/// The bootstrap a request asks for, checked: the access token's lifetime within the
/// server's, and the device named by UUID or identifier (both only if they agree).
fn command(
    request: &BootstrapRequest,
    ttls: TokenTtls,
    token_digest: [u8; 32],
) -> Result<tokens::Bootstrap, ApiError> {
    let max_ttl = ttls.access;
    let access_ttl = match request.access_ttl_seconds {
        None => max_ttl,
        Some(n) if (1..=max_ttl).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "access_ttl_seconds must be an integer from 1 to {max_ttl}, got {n}"
            )));
        }
    };
    let scopes = request
        .scopes
        .clone()
        .unwrap_or_else(|| vec!["devices:write".to_owned()]);
    // `device_id` is a UUID or an identifier; as an identifier it must agree with
    // `device_identifier`.
    let device_uuid = request
        .device_id
        .as_deref()
        .and_then(|d| uuid::Uuid::try_parse(d).ok())
        .map(|u| u.hyphenated().to_string());
    let id_as_identifier = match (&device_uuid, &request.device_id) {
        (None, Some(text)) => Some(
            DeviceIdentifier::try_from(text.clone())
                .map_err(|why| ApiError::BadRequest(format!("device_id {why}")))?,
        ),
        _ => None,
    };
    let identifier = one_identifier(id_as_identifier, request.device_identifier.clone())?;
    if identifier.is_none() && device_uuid.is_none() {
        return Err(ApiError::BadRequest(
            "device_identifier (or device_id) is required".to_owned(),
        ));
    }
    let object = |o: &Option<JsonObject>| {
        Value::Object(o.clone().map(|o| o.0).unwrap_or_default()).to_string()
    };
    Ok(tokens::Bootstrap {
        token_digest,
        named_org: request.org_id.clone(),
        device_uuid,
        identifier,
        platform: request.platform.clone().unwrap_or_default(),
        capabilities_json: object(&request.capabilities),
        metadata_json: object(&request.metadata),
        scopes_json: Value::from(scopes).to_string(),
        access_ttl_secs: access_ttl,
        refresh_ttl_secs: ttls.refresh,
    })
}
