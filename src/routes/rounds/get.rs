//! `GET /api/v1/training/rounds/{round_id}`

use actix_web::{HttpRequest, HttpResponse, web};

use super::RoundBody;
use super::assignment::{self, RoundAssignment};
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{round_assignments, rounds};

pub const ACCESS: Access = Access {
    action: "reading a training round",
    allows: &[Allow::Secret, Allow::Device],
    target: Target::Org,
};

/// Retrieve a training round
///
/// A round of the key's org, by its `id` or its `number`. A device key sees only the
/// rounds its device may join. iOS and Android get their `RoundAssignment` shape (told
/// apart as the list tells them).
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
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let reference = path.into_inner();
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    if assignment::wanted(&req) {
        let counted = rounds::settled_read(&state.db, &org_id, now, move |conn| {
            round_assignments::get(conn, &credential, &reference)
        })
        .await?;
        return Ok(HttpResponse::Ok().json(RoundAssignment::from(counted)));
    }
    let round = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        rounds::get(conn, &credential, &reference)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RoundBody::from(round)))
}
