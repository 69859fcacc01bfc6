//! `GET` and `DELETE /_devreg/requests`: the request journal of an ephemeral server, for a
//! test (or the console) to see what an app sent.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Access;
use crate::domain::Limit;
use crate::error::ApiError;
use crate::journal::JournalPage;
use crate::routes::parse_query;
use crate::schema;
use crate::state::AppState;

pub const ACCESS: Access = Access::PUBLIC;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct JournalParams {
    /// Only entries after this `seq`.
    #[param(schema_with = crate::schema::seq_schema, required = false)]
    after: Option<String>,
    /// Most entries to return.
    #[param(schema_with = schema::limit_schema, required = false)]
    limit: Option<String>,
}

/// What clearing the journal did.
#[derive(Serialize, ToSchema)]
struct Cleared {
    /// How many entries there were.
    cleared: usize,
}

fn journal(state: &AppState) -> Result<&crate::journal::Journal, ApiError> {
    state.journal.as_deref().ok_or_else(|| {
        ApiError::NotFound(
            "this server keeps no request journal (--journal-entries is 0)".to_owned(),
        )
    })
}

/// The request journal (ephemeral mode only)
///
/// Every API request this server served, oldest first, with its method, path, query,
/// status, duration and bodies; keys and tokens are redacted to their prefix. Test control
/// itself is not recorded. The journal keeps the newest `--journal-entries` (default
/// 1000) and counts what it dropped.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "testing", params(JournalParams),
    responses(
        (status = 200, description = "A page of the journal.", body = JournalPage),
        (status = 400, description = "`after` or `limit` is invalid."),
        (status = 404, description = "The journal is off."),
    ),
)]
pub async fn list_requests(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params: JournalParams = parse_query(&req)?;
    let after = match params.after.as_deref() {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "after must be the seq of a journal entry (a whole number), got {}",
                    crate::routes::quoted(text)
                ))
            })?,
    };
    let limit = Limit::parse(params.limit.as_deref()).map_err(ApiError::BadRequest)?;
    let page = journal(&state)?.page(after, limit.get() as usize);
    Ok(HttpResponse::Ok().json(page))
}

/// Clear the request journal (ephemeral mode only)
#[utoipa::path(delete, path = crate::routes::FROM_TABLE, tag = "testing",
    responses(
        (status = 200, description = "Cleared.", body = Cleared),
        (status = 404, description = "The journal is off."),
    ),
)]
pub async fn clear_requests(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let cleared = journal(&state)?.clear();
    Ok(HttpResponse::Ok().json(Cleared { cleared }))
}
