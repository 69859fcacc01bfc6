//! Hosted model files (issue 26): publishing a version's files into devreg's storage
//! (an upload URL, the upload, a confirmation), and serving them with `Range`, to a key
//! of the org or to anyone holding a URL devreg signed.

pub mod chunk;
pub mod confirm;
pub mod download_url;
pub mod file;
pub mod manifest;
pub mod upload;
pub mod upload_url;

use actix_web::HttpRequest;

use crate::artifacts;
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::quoted;
use crate::store::artifacts::Refusal;

pub(crate) use super::signed::{READ, WRITE};
pub use super::signed::{
    URL_LIFETIME_SECS, base_url, device_url, hosted_file_url, point_home, upload_url,
};

/// A URL's signature, as its query carries it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Signed {
    org: Option<String>,
    expires: Option<String>,
    signature: Option<String>,
}

impl Signed {
    /// 400 when the query's `expires` is not a Unix time in seconds (an `i64`, as the
    /// document says), whether or not a key makes the signature moot: a request outside
    /// its document is refused the same way with every credential.
    pub(crate) fn well_formed(&self) -> Result<(), ApiError> {
        match &self.expires {
            Some(expires) if expires.parse::<i64>().is_err() => Err(ApiError::BadRequest(format!(
                "expires must be a Unix time in whole seconds, got {}",
                quoted(expires)
            ))),
            _ => Ok(()),
        }
    }

    /// 403 naming why, unless this is a signature of `action` on `resource` of `org_id`
    /// that has not expired at `now`.
    pub(crate) fn check(
        &self,
        signing_key: &str,
        action: &str,
        org_id: &str,
        resource: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let (Some(org), Some(expires), Some(signature)) =
            (&self.org, &self.expires, &self.signature)
        else {
            return Err(ApiError::Forbidden(
                "this URL is not signed: send the org's key as Authorization: Bearer <key>, or \
                 use the signed URL devreg handed out (with org, expires and signature)"
                    .to_owned(),
            ));
        };
        let Ok(expires) = expires.parse::<i64>() else {
            return Err(ApiError::Forbidden(format!(
                "the URL's expires {} is not a Unix time; use the URL as devreg handed it out",
                quoted(expires)
            )));
        };
        if org != org_id {
            return Err(ApiError::Forbidden(
                "the URL's signature is for another org's file".to_owned(),
            ));
        }
        if !artifacts::signature_matches(signing_key, action, org, resource, expires, signature) {
            return Err(ApiError::Forbidden(
                "the URL's signature does not match it: it was changed or not made by this \
                 server"
                    .to_owned(),
            ));
        }
        if expires < now.0 {
            return Err(ApiError::Forbidden(format!(
                "the signed URL expired at {}; ask for a new one",
                Timestamp(expires).to_rfc3339()
            )));
        }
        Ok(())
    }
}

/// A form-encoded (what the Python SDK's registry sends) or JSON body as `T`.
pub(crate) fn parse_form_or_json<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    let form = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        return serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::BadRequest(format!("the form could not be read: {e}")));
    }
    crate::routes::parse_json_object(body)?
        .ok_or_else(|| ApiError::BadRequest(format!("the body must be {what}")))
}

/// The answer for each refusal of an artifact operation.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NoModel { org_id, model_id } => ApiError::NotFound(format!(
                "no model {} in org {org_id}; add it first with POST /api/v1/models",
                quoted(&model_id)
            )),
            Refusal::NoUpload(id) => ApiError::NotFound(format!(
                "no upload {} in this key's org; start one with POST \
                 /api/v1/models/{{model_id}}/versions/upload-url",
                quoted(&id)
            )),
            Refusal::Unfinished(id) => ApiError::Conflict(format!(
                "upload {} has no bytes yet; PUT the file to its upload_url first",
                quoted(&id)
            )),
            Refusal::OtherModel(id) => ApiError::BadRequest(format!(
                "upload {} was started for another model",
                quoted(&id)
            )),
            Refusal::VersionExists { model_id, version } => ApiError::Conflict(format!(
                "model {} already has a version {}",
                quoted(&model_id),
                quoted(&version)
            )),
            Refusal::Store(err) => err.into(),
        }
    }
}
