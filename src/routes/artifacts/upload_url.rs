//! `POST /api/v1/models/{model_id}/versions/upload-url`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{base_url, parse_form_or_json};
use crate::artifacts::check_file_path;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::artifacts;

pub const ACCESS: Access = Access {
    action: "uploading a model file",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// What to upload: form-encoded (as the Python SDK's registry sends it) or JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"version": "1.0.0", "filename": "model.onnx"})))]
struct UploadRequest {
    /// The file's name; its path in the version unless the confirmation names another:
    /// relative, up to 512 characters, no control character or backslash, no empty, `.` or `..`
    /// segment.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^(?!/)(?!.*/$)(?!.*//)(?!(.*/)?\.\.?(/|$))[^\\\u0000-\u001F\u007F-\u009F]+$"
    )]
    filename: String,
    /// The version it is for (checked when the upload is confirmed).
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<String>,
}

/// Where to send the file.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "upload_url": "http://127.0.0.1:8080/api/v1/artifacts/uploads/upl_5f0c1e?org=org_demo&expires=1796000000&signature=9a1c",
    "storage_key": "upl_5f0c1e",
    "upload_id": "upl_5f0c1e",
    "method": "PUT",
    "expires_at": "2026-11-25T21:57:33Z",
    "max_bytes": 10737418240u64
})))]
#[schema(as = FileUploadTicket)]
struct UploadTicket {
    /// Signed: PUT the file's bytes here with no Authorization header.
    upload_url: String,
    /// The upload's id, as the confirmation names it (the Python SDK's name for it).
    storage_key: String,
    upload_id: String,
    method: &'static str,
    expires_at: Timestamp,
    /// The largest file the upload may bring (`--artifact-max-bytes`).
    max_bytes: u64,
}

/// Start a model file upload
///
/// Starts the upload of one file for a model (by id or name) and answers a signed URL
/// to PUT its bytes to; `confirm-upload` then publishes the version. An upload not
/// confirmed before `expires_at` is removed with its bytes.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "models",
    params(("model_id" = String, Path, min_length = 1, description = "The model's id or name.")),
    request_body(description = "The file to upload: JSON, or the Python SDK's form.",
        content(
            (UploadRequest = "application/json"),
            (UploadRequest = "application/x-www-form-urlencoded"),
        )),
    responses(
        (status = 201, description = "Started.", body = UploadTicket),
        (status = 404, description = "The org has no such model."),
    ),
)]
pub async fn start_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: UploadRequest = parse_form_or_json(&req, &body, "a filename to upload")?;
    check_file_path(&request.filename)
        .map_err(|e| ApiError::BadRequest(format!("filename: {e}")))?;
    let model_ref = path.into_inner();
    let org_id = credential.org_id.to_string();
    let now = state.clock.now();
    let lifetime = i64::from(state.artifact_limits.abandon_after_secs);
    let expires_at = Timestamp(now.0 + lifetime);
    let upload = {
        let org_id = org_id.clone();
        state
            .db
            .write(move |tx| {
                artifacts::start_upload(tx, &org_id, &model_ref, &request.filename, now, expires_at)
            })
            .await?
    };
    let url_expires = expires_at;
    Ok(HttpResponse::Created().json(UploadTicket {
        upload_url: super::upload_url(
            &base_url(&req),
            &state.signing_key,
            &org_id,
            &upload.id,
            url_expires,
        ),
        storage_key: upload.id.clone(),
        upload_id: upload.id,
        method: "PUT",
        expires_at,
        max_bytes: state.artifact_limits.max_bytes,
    }))
}
