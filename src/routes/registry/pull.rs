//! `POST /api/v1/registry/pull`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::signed::point_home;
use crate::routes::{parse_json_object, same_org};
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "pulling a model",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// A model to pull (the Node SDK's `ModelDownloader.resolve`). Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"name": "kbd-next-word", "tag": "latest", "format": "onnx",
    "org_id": "org_demo"})))]
struct PullRequest {
    /// The model's name or id.
    #[schema(min_length = 1)]
    name: String,
    /// A version, or `latest` (the default).
    tag: Option<String>,
    /// The format wanted: a 404 when the version is another.
    format: Option<String>,
    /// The key's org, if sent (another org's is a 403).
    org_id: Option<String>,
}

/// The version to download and where.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"name": "kbd-next-word", "tag": "latest", "model_id": "kbd-next-word",
    "version": "1.0.0", "format": "onnx",
    "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx", "size_bytes": 4096,
    "checksum": "abababababababababababababababababababababababababababababababab"})))]
struct PullAnswer<'a> {
    /// The name as sent.
    name: &'a str,
    /// The tag as sent (`latest` when none).
    tag: &'a str,
    model_id: &'a str,
    version: &'a str,
    format: &'a str,
    download_url: &'a str,
    size_bytes: i64,
    /// The file's SHA-256, 64 hex digits.
    checksum: &'a str,
}

/// Pull a model
///
/// Resolves a model of the key's org (its name or id) and a tag (a version, or `latest`,
/// its newest) to the version to download, where, its size and digest: what the Node
/// SDK's `pull` reads.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "models",
    request_body(content = PullRequest, description = "The model reference."),
    responses(
        (status = 200, description = "The version to download.", body = PullAnswer),
        (status = 404, description = "No such model, version or format in the key's org."),
        (status = 409, description = "The name is several models' and none's id."),
        (status = 403, description = "`org_id` names another org than the key's."),
    ),
)]
pub async fn pull_model(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: PullRequest = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest("name is required: the model's name or id".to_owned())
    })?;
    if request.name.is_empty() {
        return Err(ApiError::BadRequest(
            "name is required: the model's name or id".to_owned(),
        ));
    }
    same_org(&credential, request.org_id.as_deref(), "pull the models of")?;
    let org_id = credential.org_id.clone();
    let tag = request.tag.clone().unwrap_or_else(|| "latest".to_owned());
    let (name, wanted, format) = (request.name.clone(), tag.clone(), request.format.clone());
    let mut delivery = state
        .db
        .read(move |conn| {
            registry::find_version_in(conn, org_id.as_str(), &name, &wanted, format.as_deref())
        })
        .await?;
    point_home(&req, &state, credential.org_id.as_str(), &mut delivery);
    let v = &delivery.version;
    Ok(HttpResponse::Ok().json(PullAnswer {
        name: &request.name,
        tag: &tag,
        model_id: &v.model_id,
        version: &v.version,
        format: &v.format,
        download_url: &delivery.download_url,
        size_bytes: v.total_bytes,
        checksum: &v.sha256,
    }))
}
