//! `GET /api/v1/experiments`

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::ExperimentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::{parse_query, quoted, same_org};
use crate::state::AppState;
use crate::store::experiments::{self, ListQuery};

pub const ACCESS: Access = Access {
    action: "listing experiments",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

#[derive(Deserialize)]
struct Query {
    org_id: Option<String>,
    status: Option<String>,
    model_id: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

fn number(
    field: &str,
    text: Option<String>,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    let Some(text) = text else {
        return Ok(default);
    };
    text.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{field} must be an integer from {min} to {max}, got {}",
                quoted(&text)
            ))
        })
}

/// The stored status a `status=` filter names: `active` and the Python SDK's `running`
/// are the same.
fn stored_status(text: &str) -> Result<&'static str, ApiError> {
    Ok(match text {
        "active" | "running" => "running",
        "draft" => "draft",
        "paused" => "paused",
        "completed" => "completed",
        "cancelled" => "cancelled",
        other => {
            return Err(ApiError::BadRequest(format!(
                "status must be one of draft, active (or running), paused, completed, \
                 cancelled; got {}",
                quoted(other)
            )));
        }
    })
}

/// Whether the caller is a web browser (the browser SDK, whose `getActiveExperiments`
/// reads `{experiments: [...]}`, experiments.ts 43-70): every browser's User-Agent starts
/// `Mozilla/`. The iOS and Python SDKs decode a bare array.
fn wants_envelope(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("Mozilla/"))
}

/// List experiments
///
/// The experiments of the key's org, oldest first: a JSON array (what the Python and iOS
/// SDKs decode), or `{"experiments": [...], "total": N}` for a web browser (a
/// `User-Agent` starting `Mozilla/`, what the browser SDK reads). Filters: `status`
/// (`draft`, `active`, with `running` the same, `paused`, `completed`, `cancelled`),
/// `model_id`; `limit` 1 to 1000 (default 100) and `offset`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "experiments",
    params(
        ("org_id" = Option<String>, Query, description = "The key's org (informative)."),
        ("status" = Option<String>, Query, description = "Only experiments of this status.",
            pattern = "^(draft|active|running|paused|completed|cancelled)$"),
        ("model_id" = Option<String>, Query, description = "Only experiments of this model."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000),
        ("offset" = Option<u32>, Query),
    ),
    responses(
        (status = 200, description = "The experiments: an array, or for a browser an \
            object `{experiments, total}`.", body = Vec<ExperimentBody>),
        (status = 403, description = "`org_id` names another org than the key's."),
    ),
)]
pub async fn list_experiments(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let query: Query = parse_query(&req)?;
    same_org(
        &credential,
        query.org_id.as_deref(),
        "list the experiments of",
    )?;
    let list = ListQuery {
        status: query
            .status
            .as_deref()
            .map(stored_status)
            .transpose()?
            .map(str::to_owned),
        model_id: query.model_id,
        limit: number("limit", query.limit, 100, 1, 1000)?,
        // The document's `offset` is an int32, as utoipa writes a u32.
        offset: number("offset", query.offset, 0, 0, i32::MAX as u32)?,
    };
    let org_id = credential.org_id.clone();
    let found = state
        .db
        .read(move |conn| experiments::list(conn, org_id.as_str(), &list))
        .await?;
    let items: Vec<ExperimentBody> = found.iter().map(ExperimentBody::of).collect();
    if wants_envelope(&req) {
        return Ok(HttpResponse::Ok().json(json!({"experiments": items, "total": items.len()})));
    }
    Ok(HttpResponse::Ok().json(items))
}
