//! `POST /api/v1/experiments/{experiment_id}/start`

use actix_web::{HttpResponse, web};

use super::ExperimentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::experiments::Action;

pub const ACCESS: Access = Access {
    action: "starting an experiment",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Start an experiment
///
/// Starts a draft experiment: it becomes `active`, every device of the org is assigned a
/// variant (or none, outside the shares), and a device's variant version becomes its
/// desired version of the model. Another active experiment on the same model is a 409, as
/// is any status but `draft`. No body is read.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "experiments",
    params(("experiment_id" = String, Path, min_length = 1, description = "The experiment's id.")),
    responses(
        (status = 200, description = "The experiment, as it is now.", body = ExperimentBody),
        (status = 404, description = "No such experiment in the key's org."),
        (status = 409, description = "Its status does not allow this step."),
    ),
)]
pub async fn start_experiment(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    super::step(state, &ACCESS, caller, path.into_inner(), Action::Start).await
}
