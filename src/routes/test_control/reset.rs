//! Test control, served only in ephemeral mode: put the database back to its seeded state
//! between tests, all of it or one org's part (so parallel tests sharing one server each
//! reset their own org).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Access;
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::AppState;

pub const ACCESS: Access = Access::PUBLIC;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ResetParams {
    /// Reset only this org's devices; without it, everything.
    #[param(required = false, example = "org_demo")]
    org_id: Option<String>,
}

/// What a reset did.
#[derive(Serialize, ToSchema)]
struct ResetDone<'a> {
    /// Always true.
    reset: bool,
    /// The org that was reset, or null for the whole database.
    org_id: Option<&'a str>,
}

/// Reset to the seeded state (ephemeral mode only)
///
/// **Exists only on a server started with `devreg serve --ephemeral` (and in
/// `TestServer`); anywhere else this path is a 404.** Without `org_id`, deletes every
/// org, key and device and stores the seeded state again: `org_demo` with the keys of the
/// ready line, then the seed file. With `org_id`, deletes that org's devices and their
/// keys and registers its seeded devices again; its org keys stay.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "testing", params(ResetParams),
    responses(
        (status = 200, description = "Reset.", body = ResetDone,
            example = json!({"reset": true, "org_id": "org_demo"})),
        (status = 400, description = "The query string could not be read."),
        (status = 404, description = "`org_id` names no org."),
    ),
)]
pub async fn reset_state(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let baseline = state.baseline.clone().ok_or_else(|| {
        ApiError::NotFound("this server is not in ephemeral mode: it has no reset".to_owned())
    })?;
    let params: ResetParams = parse_query(&req)?;
    let org_id = params.org_id.filter(|o| !o.is_empty());
    let org = org_id.clone();
    let found = state
        .db
        .write(move |tx| baseline.reset(tx, org.as_deref()))
        .await?;
    if !found {
        return Err(ApiError::NotFound(format!(
            "org {} does not exist",
            org_id.as_deref().unwrap_or_default()
        )));
    }
    Ok(HttpResponse::Ok().json(ResetDone {
        reset: true,
        org_id: org_id.as_deref(),
    }))
}
