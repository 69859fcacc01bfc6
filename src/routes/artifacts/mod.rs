//! Hosted model files (issue 26): publishing a version's files into devreg's storage
//! (an upload URL, the upload, a confirmation), and serving them with `Range`, to a key
//! of the org or to anyone holding a URL devreg signed.

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
use crate::state::AppState;
use crate::store::artifacts::{HostedFile, Refusal};

/// How long a signed download or upload URL works.
pub const URL_LIFETIME_SECS: i64 = 3600;

/// The signature's action for a download.
const READ: &str = "GET";
/// The signature's action for an upload.
const WRITE: &str = "PUT";

/// The base URL devreg is reached at, as the request says: signed URLs point back here.
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// The path of one hosted file.
fn file_path(artifact_id: &str, path: &str) -> String {
    format!(
        "/api/v1/artifacts/{artifact_id}/files/{}",
        encode_segment(path)
    )
}

/// `segment` with what a path segment cannot hold percent-encoded.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL a device uses for one hosted file: devreg's own, signed for the file's org
/// until `expires`, so it works without an Authorization header (iOS `URLSession`, the
/// browser's `fetch`, Python's registry download). Every route that hands a device a
/// hosted file's URL (download-url, desired state, the registry's reads) calls this one.
pub fn device_url(
    base: &str,
    signing_key: &str,
    org_id: &str,
    artifact_id: &str,
    path: &str,
    expires: Timestamp,
) -> String {
    let resource = format!("{artifact_id}/{path}");
    let signature = artifacts::signature(signing_key, READ, org_id, &resource, expires.0);
    format!(
        "{base}{}?org={org_id}&expires={}&signature={signature}",
        file_path(artifact_id, path),
        expires.0
    )
}

/// [`device_url`] for `file`, expiring [`URL_LIFETIME_SECS`] from `now`.
pub fn hosted_file_url(req: &HttpRequest, state: &AppState, file: &HostedFile) -> String {
    device_url(
        &base_url(req),
        &state.signing_key,
        &file.org_id,
        &file.artifact_id,
        &file.path,
        Timestamp(state.clock.now().0 + URL_LIFETIME_SECS),
    )
}

/// Points a registry answer's `delivery` at devreg when its version is hosted (published
/// through devreg, so it has no `download_url` of its own): the signed URL of its first
/// file, as desired state gives it. A version with an operator's `download_url` keeps it.
pub fn point_home(
    req: &HttpRequest,
    state: &AppState,
    org_id: &str,
    delivery: &mut crate::store::registry::Delivery,
) {
    if !delivery.download_url.is_empty() {
        return;
    }
    let version = &delivery.version;
    let files: Vec<serde_json::Value> =
        serde_json::from_str(version.files.get()).unwrap_or_default();
    let Some(path) = files
        .iter()
        .find_map(|f| f.get("path").and_then(serde_json::Value::as_str))
    else {
        return;
    };
    delivery.download_url = device_url(
        &base_url(req),
        &state.signing_key,
        org_id,
        &version.artifact_id,
        path,
        Timestamp(state.clock.now().0 + URL_LIFETIME_SECS),
    );
}

/// The signed URL an upload's bytes are sent to.
pub fn upload_url(
    base: &str,
    signing_key: &str,
    org_id: &str,
    upload_id: &str,
    expires: Timestamp,
) -> String {
    let signature = artifacts::signature(signing_key, WRITE, org_id, upload_id, expires.0);
    format!(
        "{base}/api/v1/artifacts/uploads/{upload_id}?org={org_id}&expires={}&signature={signature}",
        expires.0
    )
}

/// A URL's signature, as its query carries it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Signed {
    org: Option<String>,
    expires: Option<String>,
    signature: Option<String>,
}

impl Signed {
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
