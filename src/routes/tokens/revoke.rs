//! `POST /api/v1/device-auth/revoke` (Python, iOS: `{refresh_token, reason}`) and
//! `POST /api/v1/auth/revoke` (browser: `{token: <access token>, device_id}`).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::Token;
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::tokens;

/// The token is the credential; a key may be sent too (then of the token's org).
pub const ACCESS: Access = Access {
    action: "revoking device tokens",
    allows: &[
        Allow::Anonymous,
        Allow::Publishable,
        Allow::Secret,
        Allow::Device,
    ],
    target: Target::OwnDevice,
};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({
    "refresh_token": "edg_rt_Kp4mW9xQ2vB7nL1zR8tY3uE6iO0aS5dF",
    "reason": "sdk_revoke"
})))]
struct RevokeRequest {
    /// A refresh token of the family to end.
    refresh_token: Option<String>,
    /// An access (or refresh) token of the family to end: the browser SDK sends its access
    /// token here.
    token: Option<String>,
    /// Why, for people; not stored.
    #[allow(dead_code)]
    reason: Option<String>,
    #[allow(dead_code)]
    device_id: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"revoked": true})))]
struct Revoked {
    /// Whether a family was ended now; false for a token unknown or already revoked (as
    /// RFC 7009, an unknown token is not an error).
    revoked: bool,
}

async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.check(caller)?;
    let request: RevokeRequest = parse_json_object(&body)?.unwrap_or_default();
    let given = |t: &Option<String>| t.clone().filter(|t| !t.is_empty());
    let text = given(&request.refresh_token)
        .or_else(|| given(&request.token))
        .ok_or_else(|| ApiError::BadRequest("refresh_token (or token) is required".to_owned()))?;
    let Ok(token) = Token::parse(&text) else {
        return Ok(HttpResponse::Ok().json(Revoked { revoked: false }));
    };
    let (digest, now) = (token.digest(), state.clock.now());
    let revoked = state
        .db
        .write(move |tx| tokens::revoke(tx, credential.as_ref(), &digest, now))
        .await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}

/// Revoke device tokens
///
/// Ends the family of the refresh token sent: every access and refresh token issued with
/// it since the bootstrap stops working. The Python and iOS SDKs' `revoke()` calls this
/// with no key and accepts 200; the browser SDK calls it at its own path with the app's
/// key and `{token: <access token>, device_id}`.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "device tokens",
    request_body(content = RevokeRequest, description = "The token to revoke."),
    responses((status = 200, description = "Done.", body = Revoked)),
)]
pub async fn revoke_device_tokens(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    revoke(state, caller, body).await
}
