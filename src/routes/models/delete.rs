//! `DELETE /api/v1/models/{model_id}`

use actix_web::{HttpResponse, web};

use super::Deletion;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "deleting a model",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Delete a model
///
/// Deletes a model of the key's org (named by its id or its name) with all its versions
/// and their cancelled deployments, and appends `model.version_deleted` for each version
/// and `model.deleted`. Refused with a 409 naming them while active deployments use any
/// of its versions: cancel them first.
#[utoipa::path(delete, path = crate::routes::FROM_TABLE, tag = "models",
    params(("model_id" = String, Path, min_length = 1,
        description = "The model's id, or its name.")),
    responses(
        (status = 200, description = "Deleted.", body = Deletion),
        (status = 404, description = "No model of that id or name in the key's org."),
        (status = 409, description = "Active deployments use it (the message names them), \
            or the name is several models'."),
    ),
)]
pub async fn delete_model(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let org_id = credential.org_id.clone();
    let reference = path.into_inner();
    let now = state.clock.now();
    let deleted = state
        .db
        .write(move |tx| registry::delete(tx, org_id.as_str(), &reference, None, now))
        .await?;
    Ok(HttpResponse::Ok().json(Deletion::of(&deleted)))
}
