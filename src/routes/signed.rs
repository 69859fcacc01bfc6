//! The URLs devreg signs for hosted model files (issue 26): where a device downloads a
//! file without an Authorization header, and where an upload's bytes are sent. Apart from
//! the artifact routes so the registry's reads (routes/models, routes/registry) and desired
//! state can hand them out without depending on the artifact routes, which use theirs.

use actix_web::HttpRequest;

use crate::artifacts;
use crate::domain::Timestamp;
use crate::state::AppState;
use crate::store::artifacts::HostedFile;

/// How long a signed download or upload URL works.
pub const URL_LIFETIME_SECS: i64 = 3600;

/// The signature's action for a download.
pub(crate) const READ: &str = "GET";
/// The signature's action for an upload.
pub(crate) const WRITE: &str = "PUT";

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
