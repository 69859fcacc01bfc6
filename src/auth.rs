//! Who is calling: the key a request presents, turned into a [`Credential`] or refused.
//!
//! Keys arrive as `Authorization: Bearer <key>` or `X-API-Key: <key>`. A request with no
//! key is anonymous (open registration may still serve it); a key that is malformed,
//! unknown or revoked is a 401 whatever the endpoint.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use crate::app::AppState;
use crate::domain::{ApiKey, KeyKind};
use crate::error::ApiError;
use crate::store::{StoreError, keys};

/// A valid, unrevoked key and what it belongs to.
#[derive(Debug, Clone)]
pub struct Credential {
    pub key_id: String,
    pub org_id: String,
    pub kind: KeyKind,
    /// The device a device key belongs to.
    pub device_id: Option<String>,
}

/// The extractor handlers take: `Caller(None)` for a request without a key.
#[derive(Debug)]
pub struct Caller(pub Option<Credential>);

impl Caller {
    /// The credential, or 401 for an anonymous request.
    pub fn require(self) -> Result<Credential, ApiError> {
        self.0.ok_or_else(key_required)
    }
}

/// The key text a request presents, if any. Both headers at once must agree.
pub(crate) fn presented_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let malformed = |why: &str| ApiError::Unauthorized(format!("the API key is malformed: {why}"));
    let bearer = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| malformed("the Authorization header is not plain text"))?;
            let (scheme, token) = value
                .trim()
                .split_once(' ')
                .ok_or_else(|| malformed("the Authorization header must be \"Bearer <key>\""))?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(malformed(
                    "the Authorization header must use the Bearer scheme",
                ));
            }
            Some(token.trim())
        }
    };
    let api_key_header = match req.headers().get("x-api-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| malformed("the X-API-Key header is not plain text"))?
                .trim(),
        ),
    };
    match (bearer, api_key_header) {
        (Some(a), Some(b)) if a != b => Err(ApiError::Unauthorized(
            "Authorization and X-API-Key carry different keys; send one".to_owned(),
        )),
        (Some(key), _) | (None, Some(key)) => Ok(Some(key)),
        (None, None) => Ok(None),
    }
}

/// Looks a presented key up by its digest.
async fn authenticate(state: &AppState, text: &str) -> Result<Credential, ApiError> {
    let key = ApiKey::parse(text).map_err(ApiError::Unauthorized)?;
    let digest = key.digest();
    state
        .db
        .read(move |conn| credential_for(conn, &digest))
        .await?
}

/// The credential a key digest stands for, looked up on `conn`: the inner `Err` is the
/// 401 for an unknown or revoked key. For handlers that authenticate inside their own
/// database work instead of through [`Caller`].
pub fn credential_for(
    conn: &rusqlite::Connection,
    digest: &[u8; 32],
) -> Result<Result<Credential, ApiError>, StoreError> {
    Ok(match keys::find_by_digest(conn, digest)? {
        Some(stored) if !stored.revoked => Ok(Credential {
            key_id: stored.id,
            org_id: stored.org_id,
            kind: stored.kind,
            device_id: stored.device_id,
        }),
        Some(_) => Err(ApiError::Unauthorized(
            "the API key has been revoked".to_owned(),
        )),
        None => Err(ApiError::Unauthorized(
            "the API key is not known to this server".to_owned(),
        )),
    })
}

/// The key a request presents, parsed but not looked up: 401 if there is none or it is
/// malformed. [`Caller`] without the database.
pub fn presented_api_key(req: &HttpRequest) -> Result<ApiKey, ApiError> {
    let text = presented_key(req)?.ok_or_else(key_required)?;
    ApiKey::parse(text).map_err(ApiError::Unauthorized)
}

fn key_required() -> ApiError {
    ApiError::Unauthorized(
        "an API key is required: send it as Authorization: Bearer <key>".to_owned(),
    )
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = presented_key(req).map(|k| k.map(str::to_owned));
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("AppState is not registered".to_owned()))?;
            match presented? {
                None => Ok(Caller(None)),
                Some(text) => Ok(Caller(Some(authenticate(&state, &text).await?))),
            }
        })
    }
}
