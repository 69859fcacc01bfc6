//! `POST /api/v1/devices/{device_id}/training-jobs/{job_id}/status`

use actix_web::{HttpResponse, web};

use super::desired_state::DEVICE_STATE;
use super::training_jobs::JobStanding;
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{rounds, training_jobs};

pub const ACCESS: Access = Access {
    action: "reading a training job",
    allows: DEVICE_STATE,
    target: Target::PathDevice,
};

/// Read a training job
///
/// Where the device stands in the job's round (Node's and the browser's `jobStatus`
/// POST whatever progress they have; it is not kept): whether it joined, whether its
/// update is in, how many updates the round has, and the round's own status.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("device_id" = String, Path, min_length = 1,
            description = "The device's UUID `id` or its identifier."),
        ("job_id" = String, Path, min_length = 1, description = "The job's (its round's) id.")),
    responses(
        (status = 200, description = "Where the job stands.", body = JobStanding),
        (status = 404, description = "No such round that the device can see."),
    ),
)]
pub async fn report_training_job_status(
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
    Ok(HttpResponse::Ok().json(JobStanding::from(standing)))
}
