//! `POST /api/v1/training/rounds/{round_id}/complete`

use actix_web::{HttpResponse, web};

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::RoundStatus;
use crate::error::ApiError;
use crate::state::AppState;

pub const ACCESS: Access = Access {
    action: "completing a training round",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Complete a training round
///
/// Ends an active round as `completed`. A round already ended is a 409 and stays as it
/// was. No body is read.
#[utoipa::path(post, path = crate::routes::FROM_TABLE,
    tag = "training rounds",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    responses(
        (status = 200, description = "The round, now completed.", body = super::RoundBody),
        (status = 404, description = "No such round in the key's org."),
        (status = 409, description = "The round has already ended."),
    ),
)]
pub async fn complete_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    super::end_round(
        &ACCESS,
        state,
        caller,
        path.into_inner(),
        RoundStatus::Completed,
    )
    .await
}
