//! `POST /api/v1/models`

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ModelBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::ModelId;
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::models;

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
    let org_id = credential.org_id.clone();
    let model = state
        .db
        .write(move |tx| {
            let new = models::NewModel {
                model_id: request.model_id.as_str(),
                name: request.name.as_deref(),
            };
            models::create(tx, org_id.as_str(), &new, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(ModelBody::of(&model)))
}
