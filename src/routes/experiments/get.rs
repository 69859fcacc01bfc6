//! `GET /api/v1/experiments/{experiment_id}`

use actix_web::{HttpResponse, web};

use super::ExperimentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::experiments;

pub const ACCESS: Access = Access {
    action: "reading an experiment",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// Retrieve an experiment
///
/// One experiment of the key's org, as every SDK reads it (iOS `getExperimentConfig`,
/// the browser's, the Python SDK's `get`).
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "experiments",
    params(("experiment_id" = String, Path, min_length = 1, description = "The experiment's id.")),
    responses(
        (status = 200, description = "The experiment.", body = ExperimentBody),
        (status = 404, description = "No such experiment in the key's org."),
    ),
)]
pub async fn get_experiment(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let (org_id, id) = (credential.org_id.clone(), path.into_inner());
    let experiment = state
        .db
        .read(move |conn| experiments::get(conn, org_id.as_str(), &id))
        .await?;
    Ok(HttpResponse::Ok().json(ExperimentBody::of(&experiment)))
}
