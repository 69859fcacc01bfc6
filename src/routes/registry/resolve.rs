//! `GET /api/v1/registry/resolve/{reference}`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::signed::point_home;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "resolving a model reference",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// The version a reference names and where to download it.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"name": "kbd-next-word", "model_id": "kbd-next-word",
    "version": "1.0.0", "format": "onnx",
    "download_url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
    "url": "https://cdn.example.com/kbd/1.0.0/model.onnx",
    "size_bytes": 4096, "sizeBytes": 4096,
    "checksum": "abababababababababababababababababababababababababababababababab"})))]
#[schema(as = ReferenceResolveAnswer)]
struct ResolveAnswer<'a> {
    /// The reference's model part as sent.
    name: &'a str,
    model_id: &'a str,
    version: &'a str,
    format: &'a str,
    download_url: &'a str,
    /// The same as `download_url` (the browser SDK reads either).
    url: &'a str,
    size_bytes: i64,
    #[serde(rename = "sizeBytes")]
    size_bytes_camel: i64,
    checksum: &'a str,
}

/// Resolve a model reference
///
/// Resolves `NAME` or `NAME:TAG` (a model of the key's org by its name or id; the tag a
/// version, `latest` by default) to the version to download and where: what the browser
/// SDK's model manager reads.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(("reference" = String, Path, min_length = 1,
        description = "`NAME` or `NAME:TAG`, URL-encoded.")),
    responses(
        (status = 200, description = "The version to download.", body = ResolveAnswer),
        (status = 404, description = "No such model or version in the key's org."),
        (status = 409, description = "The name is several models' and none's id."),
    ),
)]
pub async fn resolve_reference(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let reference = path.into_inner();
    let org_id = credential.org_id.clone();
    let (name, tag) = split_reference(&reference);
    let (model, version) = (name.to_owned(), tag.to_owned());
    let mut delivery = state
        .db
        .read(move |conn| registry::find_version(conn, org_id.as_str(), &model, &version))
        .await?;
    point_home(&req, &state, credential.org_id.as_str(), &mut delivery);
    let v = &delivery.version;
    Ok(HttpResponse::Ok().json(ResolveAnswer {
        name,
        model_id: &v.model_id,
        version: &v.version,
        format: &v.format,
        download_url: &delivery.download_url,
        url: &delivery.download_url,
        size_bytes: v.total_bytes,
        size_bytes_camel: v.total_bytes,
        checksum: &v.sha256,
    }))
}

/// `NAME:TAG` split at its last colon; `latest` when there is no tag.
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !name.is_empty() && !tag.is_empty() => (name, tag),
        _ => (reference, "latest"),
    }
}
