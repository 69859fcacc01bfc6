//! The key a request presents, read from its headers, and whether a handler proved it
//! valid: below both `auth` (which looks keys up) and `ratelimit` (which charges requests
//! by the key they present before anything is looked up).

use actix_web::HttpMessage;
use actix_web::HttpRequest;
use actix_web::http::header;

use crate::error::ApiError;

/// The key text a request presents, if any. Both headers at once must agree; either
/// header twice is refused, since which of two keys would count is anyone's guess.
pub fn presented_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let malformed = |why: &str| ApiError::Unauthorized(format!("the API key is malformed: {why}"));
    for name in ["authorization", "x-api-key"] {
        if req.headers().get_all(name).nth(1).is_some() {
            return Err(ApiError::Unauthorized(format!(
                "the request carries more than one {} header; send the key in one",
                if name == "authorization" {
                    "Authorization"
                } else {
                    "X-API-Key"
                }
            )));
        }
    }
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

/// Set on a request whose key was looked up and found valid. The rate limiter charges
/// every keyed request without it to its client address too ([`crate::ratelimit`]).
#[derive(Debug, Clone, Copy)]
pub struct KeyVerified;

/// Marks `req` as carrying a valid key.
pub fn mark_verified(req: &HttpRequest) {
    req.extensions_mut().insert(KeyVerified);
}

/// Whether a handler proved `req`'s key valid.
pub fn is_verified(req: &HttpRequest) -> bool {
    req.extensions().contains::<KeyVerified>()
}
