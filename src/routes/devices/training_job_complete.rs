//! `POST /api/v1/devices/{device_id}/training-jobs/{job_id}/complete`

use actix_web::{HttpResponse, web};

use super::desired_state::DEVICE_STATE;
use super::training_jobs::JobStanding;
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{rounds, training_jobs};

pub const ACCESS: Access = Access {
    action: "completing a training job",
    allows: DEVICE_STATE,
    target: Target::PathDevice,
};

/// Complete a training job
///
/// Confirms the device's part in the job's round is done: 200 with its standing once its
/// update is in (sent through `POST /api/v1/federation/rounds/{round_id}/uploads` and
/// completed), a 409 naming those paths before that. Nothing changes either way.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("device_id" = String, Path, min_length = 1,
            description = "The device's UUID `id` or its identifier."),
        ("job_id" = String, Path, min_length = 1, description = "The job's (its round's) id.")),
    responses(
        (status = 200, description = "The device's update is in.", body = JobStanding),
        (status = 404, description = "No such round that the device can see."),
        (status = 409, description = "The device has not sent its update yet."),
    ),
)]
pub async fn complete_training_job(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (device, job) = path.into_inner();
    let acting = ACCESS.acting(caller, Some(device))?;
    let (org_id, now) = (acting.credential.org_id.clone(), state.clock.now());
    let standing = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        training_jobs::status(conn, &acting, &job)
    })
    .await?;
    if !standing.participation.update_received {
        return Err(ApiError::Conflict(format!(
            "the device has not sent its update to training round {}: send it with POST \
             /api/v1/federation/rounds/{}/uploads, PUT the parts, then POST \
             .../uploads/{{upload_id}}/complete; then complete the job",
            standing.round.number, standing.round.id
        )));
    }
    Ok(HttpResponse::Ok().json(JobStanding::from(standing)))
}
