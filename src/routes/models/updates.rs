//! `GET /api/v1/models/{model_id}/updates`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::routes::signed::point_home;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "checking a model for updates",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UpdatesParams {
    /// The version the device runs.
    #[param(required = true, min_length = 1, example = "1.0.0")]
    current_version: Option<String>,
}

/// The version to move to.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"new_version": "1.1.0", "current_version": "1.0.0",
    "is_required": true, "release_notes": null, "update_size": 4096,
    "download_url": "https://cdn.example.com/kbd/1.1.0/model.onnx",
    "checksum": "abababababababababababababababababababababababababababababababab",
    "source": "deployment"})))]
struct UpdateAnswer<'a> {
    new_version: &'a str,
    current_version: &'a str,
    /// Whether a deployment names it with activation policy `immediate`.
    is_required: bool,
    release_notes: Option<&'a str>,
    /// The new version's size in bytes.
    update_size: i64,
    download_url: &'a str,
    checksum: &'a str,
    /// `deployment` (a deployment targeting the calling device names it) or `latest`.
    source: &'a str,
}

/// Check a model for an update
///
/// The version of a model of the key's org (named by its id or its name) that a device
/// running `current_version` should move to: for a device's own key, the version of the
/// newest active deployment targeting it, else the newest version. A 404 when that is
/// `current_version`: no update.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(("model_id" = String, Path, min_length = 1,
        description = "The model's id, or its name."), UpdatesParams),
    responses(
        (status = 200, description = "An update.", body = UpdateAnswer),
        (status = 404, description = "No update, or no such model in the key's org, or it \
            has no version."),
        (status = 409, description = "The name is several models' and none's id."),
    ),
)]
pub async fn check_updates(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let params = parse_query::<UpdatesParams>(&req)?;
    let current = params
        .current_version
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "current_version is required: the version the device runs".to_owned(),
            )
        })?;
    let org = credential.org_id.clone();
    let dev = credential.own_device().map(str::to_owned);
    let (model, cur) = (path.into_inner(), current.clone());
    let mut resolved = state
        .db
        .read(move |c| registry::update_for(c, org.as_str(), dev.as_deref(), &model, &cur))
        .await?;
    point_home(
        &req,
        &state,
        credential.org_id.as_str(),
        &mut resolved.delivery,
    );
    let v = &resolved.delivery.version;
    Ok(HttpResponse::Ok().json(UpdateAnswer {
        new_version: &v.version,
        current_version: &current,
        is_required: resolved
            .deployment
            .as_ref()
            .is_some_and(|(_, policy)| policy == "immediate"),
        release_notes: None,
        update_size: v.total_bytes,
        download_url: &resolved.delivery.download_url,
        checksum: &v.sha256,
        source: resolved.source,
    }))
}
