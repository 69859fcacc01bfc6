//! `POST /api/v1/experiments/{experiment_id}/pause`

use actix_web::{HttpResponse, web};

use super::ExperimentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::experiments::Action;

pub const ACCESS: Access = Access {
    action: "pausing an experiment",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Pause an experiment
///
/// Pauses an active experiment: it stops assigning, and its variants leave the devices'
/// desired state (their deployments apply again). Any status but `active` is a 409. No body
/// is read.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "experiments",
    params(("experiment_id" = String, Path, min_length = 1, description = "The experiment's id.")),
    responses(
        (status = 200, description = "The experiment, as it is now.", body = ExperimentBody),
        (status = 404, description = "No such experiment in the key's org."),
        (status = 409, description = "Its status does not allow this step."),
    ),
)]
pub async fn pause_experiment(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    super::step(state, &ACCESS, caller, path.into_inner(), Action::Pause).await
}
