//! `POST /api/v1/models/{model_id}/versions/confirm-upload`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::parse_form_or_json;
use crate::artifacts::check_file_path;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::VersionName;
use crate::error::ApiError;
use crate::routes::models::VersionBody;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::artifacts::{self, Publish, PublishedFile};

pub const ACCESS: Access = Access {
    action: "publishing a model version",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// A whole number sent as a JSON number or as text (a form's fields are text).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
enum Whole {
    Number(u64),
    Text(String),
}

impl Whole {
    fn value(&self, field: &str) -> Result<u64, ApiError> {
        match self {
            Whole::Number(n) => Ok(*n),
            Whole::Text(t) => t.trim().parse().map_err(|_| {
                ApiError::BadRequest(format!(
                    "{field} must be a whole number of bytes, got {}",
                    quoted(t)
                ))
            }),
        }
    }
}

/// One uploaded file of the version.
#[derive(Debug, Deserialize, ToSchema)]
struct ConfirmedFile {
    /// The upload's id (`storage_key`).
    storage_key: String,
    /// Its path in the version; the upload's filename when not given.
    #[serde(default)]
    path: Option<String>,
    /// Its size in bytes, as the uploader counted it.
    size: Whole,
    /// Its SHA-256, when the uploader computed it.
    #[serde(default)]
    sha256: Option<String>,
}

/// The version to publish from finished uploads: the Python SDK registry's form
/// (`version`, `storage_key`, `file_size`), or JSON with `files` for several.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "version": "1.0.0",
    "format": "onnx",
    "files": [{"storage_key": "upl_5f0c1e", "path": "model.onnx", "size": 4096,
        "sha256": "abababababababababababababababababababababababababababababababab"}]
})))]
struct Confirmation {
    version: String,
    /// The artifact's format; by default the first file's extension.
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    storage_key: Option<String>,
    #[serde(default)]
    file_size: Option<Whole>,
    /// The file's SHA-256 (also read as `checksum`), when the uploader computed it.
    #[serde(default, alias = "checksum")]
    sha256: Option<String>,
    #[serde(default)]
    files: Vec<ConfirmedFile>,
}

/// The form the Python SDK's registry sends: one file, and no `files` (a form has no
/// list of objects). Only its schema is used; the handler reads it as a [`Confirmation`].
#[derive(ToSchema)]
#[schema(examples(json!({"version": "1.0.0", "storage_key": "upl_5f0c1e", "file_size": "4096"})))]
#[allow(dead_code)]
struct ConfirmationForm {
    version: String,
    /// The artifact's format; by default the file's extension.
    format: Option<String>,
    /// The upload's id.
    storage_key: String,
    /// Its size in bytes, as the uploader counted it.
    #[schema(pattern = "^ *[0-9]{1,19} *$")]
    file_size: String,
    /// The file's SHA-256 (also read as `checksum`), when the uploader computed it.
    sha256: Option<String>,
}

/// The format a file's name says: its extension, else `bin`.
pub(crate) fn format_of(filename: &str) -> String {
    match filename.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() && ext.len() <= 32 => ext.to_ascii_lowercase(),
        _ => "bin".to_owned(),
    }
}

/// Publish an uploaded version
///
/// Publishes a version of a model (by id or name) from finished uploads: each file's
/// size (and SHA-256, when given) must match what devreg received, else the upload is
/// removed and nothing is published (400). The version is visible only after this
/// answers 201; devices download its files from devreg.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "models",
    params(("model_id" = String, Path, min_length = 1, description = "The model's id or name.")),
    request_body(description = "The version and its uploads: JSON, or the Python SDK's form.",
        content(
            (Confirmation = "application/json"),
            (ConfirmationForm = "application/x-www-form-urlencoded"),
        )),
    responses(
        (status = 201, description = "Published.", body = VersionBody),
        (status = 404, description = "The org has no such model or upload."),
        (status = 409, description = "The model has that version already, or an upload has no bytes."),
    ),
)]
pub async fn confirm_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: Confirmation = parse_form_or_json(
        &req,
        &body,
        "the version and its uploads (version, storage_key, file_size)",
    )?;
    let version = VersionName::try_from(request.version.clone())
        .map_err(|e| ApiError::BadRequest(format!("version {e}")))?;
    let mut files = request.files;
    if let Some(storage_key) = request.storage_key {
        let size = request.file_size.ok_or_else(|| {
            ApiError::BadRequest("file_size is required with storage_key".to_owned())
        })?;
        files.push(ConfirmedFile {
            storage_key,
            path: None,
            size,
            sha256: request.sha256,
        });
    }
    if files.is_empty() {
        return Err(ApiError::BadRequest(
            "name the uploads to publish: storage_key and file_size, or files".to_owned(),
        ));
    }
    let org_id = credential.org_id.to_string();
    let mut published = Vec::new();
    for file in &files {
        let size = file.size.value("file_size")?;
        let key = file.storage_key.clone();
        let upload = {
            let key = key.clone();
            state
                .db
                .read(move |conn| artifacts::find_upload(conn, &key))
                .await?
        }
        .filter(|u| u.org_id == org_id)
        .ok_or_else(|| artifacts::Refusal::NoUpload(key.clone()))?;
        let path = file.path.clone().unwrap_or_else(|| upload.filename.clone());
        check_file_path(&path).map_err(ApiError::BadRequest)?;
        if published.iter().any(|p: &PublishedFile| p.path == path) {
            return Err(ApiError::BadRequest(format!(
                "two files have the path {}",
                quoted(&path)
            )));
        }
        if upload.finished.is_none() {
            crate::artifacts::finish(
                &state.artifacts,
                &state.db,
                &upload.id,
                size,
                file.sha256.as_deref(),
            )
            .await?;
        } else if let Some((stored, digest)) = &upload.finished
            && (*stored as u64 != size
                || file
                    .sha256
                    .as_deref()
                    .is_some_and(|s| !s.eq_ignore_ascii_case(digest)))
        {
            return Err(ApiError::BadRequest(format!(
                "upload {} was finished with {stored} bytes of SHA-256 {digest}, not what \
                 this confirmation says",
                quoted(&upload.id)
            )));
        }
        published.push(PublishedFile {
            upload_id: upload.id,
            path,
        });
    }
    let format = match request.format {
        Some(f) if !f.is_empty() && f.chars().count() <= 32 => f,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "format must be 1 to 32 characters, such as onnx".to_owned(),
            ));
        }
        None => format_of(&published[0].path),
    };
    let publish = Publish {
        model_ref: path.into_inner(),
        version: version.as_str().to_owned(),
        format,
        files: published,
    };
    let now = state.clock.now();
    let version = state
        .db
        .write(move |tx| artifacts::publish(tx, &org_id, &publish, now))
        .await?;
    Ok(HttpResponse::Created().json(VersionBody::of(&version)))
}
