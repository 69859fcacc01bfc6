//! `GET /api/v1/training/rounds/{round_id}`

use actix_web::{HttpResponse, web};

use super::RoundBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::rounds;

pub const ACCESS: Access = Access {
    action: "reading a training round",
    allows: &[Allow::Secret, Allow::Device],
    target: Target::Org,
};

/// Retrieve a training round
///
/// A round of the key's org, by its `id` or its `number`. A device key sees only the
/// rounds its device may join.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "training rounds",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    responses(
        (status = 200, description = "The round.", body = RoundBody,
            links(("CompleteRound" = (operation_id = "complete_round", parameters(("round_id" =
                    "$response.body#/id")), description = "Complete it.")),
                ("CancelRound" = (operation_id = "cancel_round", parameters(("round_id" =
                    "$response.body#/id")), description = "Cancel it.")))),
        (status = 404, description = "No such round that the key can see."),
    ),
)]
pub async fn get_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let reference = path.into_inner();
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    let round = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        rounds::get(conn, &credential, &reference)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RoundBody::from(round)))
}
