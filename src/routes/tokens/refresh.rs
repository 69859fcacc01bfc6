//! `POST /api/v1/device-auth/refresh` (Python, iOS) and `POST /api/v1/auth/refresh`
//! (browser): one refresh, two bodies.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::TokenAnswer;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{Token, TokenKind};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::tokens::{self, Refreshed, Refusal};

/// The refresh token is the credential. A key may be sent too (the browser sends its
/// app's key): then it must be of the token's org.
pub const ACCESS: Access = Access {
    action: "refreshing device tokens",
    allows: &[
        Allow::Anonymous,
        Allow::Publishable,
        Allow::Secret,
        Allow::Device,
    ],
    target: Target::OwnDevice,
};

#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"refresh_token": "edg_rt_Kp4mW9xQ2vB7nL1zR8tY3uE6iO0aS5dF"})))]
struct RefreshRequest {
    /// The refresh token of the last answer; it is used up by this call.
    refresh_token: String,
    /// The browser SDK sends the device's identifier; not needed.
    #[allow(dead_code)]
    device_id: Option<serde_json::Value>,
}

async fn refresh(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.check(caller)?;
    let request: RefreshRequest = parse_json_object(&body)?
        .ok_or_else(|| ApiError::BadRequest("refresh_token is required".to_owned()))?;
    let token = match Token::parse(&request.refresh_token) {
        Ok(token) if token.kind() == TokenKind::Refresh => token,
        _ => return Err(Refusal::RefreshUnknown.into()),
    };
    let command = tokens::Refresh {
        token_digest: token.digest(),
        access_ttl_secs: state.token_ttls.access,
        refresh_ttl_secs: state.token_ttls.refresh,
    };
    let now = state.clock.now();
    let refreshed = state
        .db
        .write(move |tx| tokens::refresh(tx, credential.as_ref(), &command, now))
        .await?;
    match refreshed {
        Refreshed::Issued(issued) => Ok(HttpResponse::Ok().json(TokenAnswer::of(&issued, now))),
        Refreshed::Reused => Err(ApiError::Unauthorized(
            "the refresh token was already used; a reused refresh token revokes every token \
             issued with it since the bootstrap. A device registered already cannot bootstrap \
             again: an operator issues it a key (POST /api/v1/devices/{id}/keys), or deletes \
             it so that it can"
                .to_owned(),
        )),
    }
}

/// Refresh device tokens
///
/// Trades a refresh token for a new access token and a new refresh token (rotation): the
/// one sent is used up. Presenting a used refresh token again revokes its whole family
/// (every token issued since the bootstrap) and is a 401, except once within 60 seconds
/// while the pair it was traded for is unused (a lost answer): then that pair is revoked
/// and a new one answered. The Python and iOS SDKs'
/// `DeviceAuthClient.refresh` calls this with no key; the browser SDK calls it at its own
/// path with the app's key and `{refresh_token, device_id}`, and reads `token`,
/// `expires_at` and `refresh_token`.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "device tokens",
    request_body(content = RefreshRequest, description = "The refresh token."),
    responses(
        (status = 200, description = "New tokens.", body = TokenAnswer),
        (status = 401, description = "The refresh token is unknown, used, revoked or expired."),
    ),
)]
pub async fn refresh_device_tokens(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    refresh(state, caller, body).await
}
