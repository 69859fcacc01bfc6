//! `GET /api/v1/models`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::ModelBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::models;

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
/// Every model of the key's org with its versions' manifests, models by id.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    responses((status = 200, description = "The models.", body = ModelList)),
)]
pub async fn list_models(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let org_id = credential.org_id.clone();
    let models = state
        .db
        .read(move |conn| models::list(conn, org_id.as_str()))
        .await?;
    Ok(HttpResponse::Ok().json(ModelList {
        models: models.iter().map(ModelBody::of).collect(),
    }))
}
