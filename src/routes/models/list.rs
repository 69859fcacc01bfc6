//! `GET /api/v1/models`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::ModelBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::signed::point_home;
use crate::state::AppState;
use crate::store::{models, registry};

pub const ACCESS: Access = Access {
    action: "listing models",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

#[derive(Serialize, ToSchema)]
struct ModelList<'a> {
    models: Vec<ModelBody<'a>>,
}

/// List models
///
/// Every model of the key's org with its versions' manifests, models by id. A hosted
/// version (published through devreg, no `download_url` of its own) carries devreg's
/// signed URL of its first file, as the registry's other reads do.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    responses((status = 200, description = "The models.", body = ModelList)),
)]
pub async fn list_models(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let org_id = credential.org_id.clone();
    let mut models = state
        .db
        .read(move |conn| models::list(conn, org_id.as_str()))
        .await?;
    for version in models.iter_mut().flat_map(|m| m.versions.iter_mut()) {
        if version.download_url.is_empty() {
            let mut delivery = registry::Delivery {
                version: version.clone(),
                download_url: String::new(),
            };
            point_home(&req, &state, credential.org_id.as_str(), &mut delivery);
            version.download_url = delivery.download_url;
        }
    }
    Ok(HttpResponse::Ok().json(ModelList {
        models: models.iter().map(ModelBody::of).collect(),
    }))
}
