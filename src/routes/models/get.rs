//! `GET /api/v1/models/{model_id}`

use actix_web::{HttpResponse, web};

use super::answers::ModelInfo;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "reading a model",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// Retrieve a model
///
/// A model of the key's org, named by its id or its name: its name, the newest version's
/// format as `framework`, how many versions it has and when the newest was added.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(("model_id" = String, Path, min_length = 1,
        description = "The model's id, or its name.")),
    responses(
        (status = 200, description = "The model.", body = ModelInfo),
        (status = 404, description = "No model of that id or name in the key's org."),
        (status = 409, description = "The name is several models' and none's id."),
    ),
)]
pub async fn get_model(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let (org_id, reference) = (credential.org_id.clone(), path.into_inner());
    let model = {
        let org_id = org_id.clone();
        state
            .db
            .read(move |conn| registry::find_model(conn, org_id.as_str(), &reference))
            .await?
    };
    Ok(HttpResponse::Ok().json(ModelInfo::of(org_id.as_str(), &model)))
}
