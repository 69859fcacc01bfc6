//! `POST /api/v1/models`

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ModelBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::ModelId;
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::{OnDuplicate, models};

pub const ACCESS: Access = Access {
    action: "adding a model",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// A model to add. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"model_id": "kbd-next-word", "name": "Keyboard next word"})))]
struct CreateModel {
    /// 1–255 characters, no control characters; unique in the org.
    model_id: ModelId,
    /// For people.
    name: Option<String>,
}

/// Add a model
///
/// Adds a model to the key's org; its versions are added with `POST
/// /api/v1/models/{model_id}/versions`. A model id the org has already is a 409.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "models",
    request_body(content = CreateModel, description = "The model."),
    responses(
        (status = 201, description = "Added.", body = ModelBody),
        (status = 409, description = "The org has a model with that id."),
    ),
)]
pub async fn create_model(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: CreateModel = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest("model_id is required: a string of 1 to 255 characters".to_owned())
    })?;
    let now = state.clock.now();
    let org_id = credential.org_id.as_str().to_owned();
    let model = state
        .db
        .write(move |tx| {
            let id = request.model_id.as_str();
            models::insert_model(tx, &org_id, id, request.name.as_deref(), now).on_duplicate(|| {
                ApiError::Conflict(format!("org {org_id} already has a model {}", quoted(id)))
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(ModelBody::of(&model)))
}
