//! `GET /api/v1/training/rounds`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::RoundBody;
use super::assignment::{self, RoundAssignment};
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::{Limit, Offset, RoundStatus};
use crate::error::ApiError;
use crate::routes::{parse_query, same_org};
use crate::schema;
use crate::state::AppState;
use crate::store::round_assignments;
use crate::store::rounds::{self, ListRounds};

pub const ACCESS: Access = Access {
    action: "listing training rounds",
    allows: &[Allow::Secret, Allow::Device],
    target: Target::Org,
};

/// The list query as sent: text, so a bad value's error can quote it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// The key's org, if given (another org's is a 403).
    #[param(required = false, example = "org_demo")]
    org_id: Option<String>,
    /// Only rounds with this status.
    #[param(value_type = RoundStatus, required = false)]
    status: Option<String>,
    /// Only the rounds this device (identifier or `id`) may join. With a device key, its
    /// own device.
    #[param(required = false, example = "laptop-001")]
    device_id: Option<String>,
    /// iOS's filter: `waiting_for_updates` is `active` (`status` wins when both are sent).
    #[param(
        required = false,
        example = "waiting_for_updates",
        pattern = "^(waiting_for_updates|active|in_progress|client_selection|completed|aggregated|cancelled|failed)$"
    )]
    state: Option<String>,
    /// Only the rounds of this model (iOS sends it).
    #[param(required = false, example = "kbd-next-word")]
    model_id: Option<String>,
    /// `assignment`: answer a bare array of iOS's and Android's `RoundAssignment` (also
    /// when the request carries `User-Agent: octomil-ios/…` or `X-Org-Id`).
    #[param(required = false, example = "assignment")]
    #[allow(dead_code)]
    shape: Option<String>,
    /// Most rounds to return.
    #[param(schema_with = schema::limit_schema, required = false)]
    limit: Option<String>,
    /// Rounds to skip.
    #[param(schema_with = schema::offset_schema, required = false)]
    offset: Option<String>,
}

struct ListFilter {
    org_id: Option<String>,
    model_id: Option<String>,
    status: Option<RoundStatus>,
    device_id: Option<String>,
    limit: Limit,
    offset: Offset,
}

impl TryFrom<ListParams> for ListFilter {
    type Error = ApiError;

    fn try_from(params: ListParams) -> Result<Self, ApiError> {
        let bad = ApiError::BadRequest;
        let state =
            params.state.as_deref().map(|state| {
                assignment::status_of_state(state).map(str::to_owned).ok_or_else(|| {
                bad(format!(
                    "state must be waiting_for_updates, completed or cancelled, got {state:?}"
                ))
            })
            });
        let status = params
            .status
            .map(Ok)
            .or(state)
            .transpose()?
            .map(RoundStatus::try_from)
            .transpose()
            .map_err(|e| bad(format!("status {e}")))?;
        Ok(ListFilter {
            org_id: params.org_id.filter(|o| !o.is_empty()),
            model_id: params.model_id.filter(|m| !m.is_empty()),
            status,
            device_id: params.device_id.filter(|d| !d.is_empty()),
            limit: Limit::parse(params.limit.as_deref()).map_err(bad)?,
            offset: Offset::parse(params.offset.as_deref()).map_err(bad)?,
        })
    }
}

/// A page of rounds, oldest first.
#[derive(Serialize, ToSchema)]
struct RoundList {
    rounds: Vec<RoundBody>,
    /// Every round that matches, on all pages.
    total: u64,
    /// The `limit` applied.
    limit: u32,
    /// The `offset` applied.
    offset: u64,
}

/// What listing rounds answers: a page, or iOS's and Android's bare array of assignments.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used: the handler answers the two shapes itself
enum RoundListAnswer {
    Page(RoundList),
    Assignments(Vec<RoundAssignment>),
}

/// List training rounds
///
/// The org's rounds, oldest first. With a device key, only the rounds its device may join
/// (its org's, aimed at its platform or at every platform): what the SDKs poll with
/// `?device_id=…&status=active`. iOS and Android get a bare array of their
/// `RoundAssignment` instead (see `shape`), of one model with `model_id`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "training rounds",
    params(ListParams),
    responses(
        (status = 200, description = "A page of rounds; with `shape=assignment` (or \
            `User-Agent: octomil-ios/…`, or `X-Org-Id`) a bare array of assignments.",
            body = RoundListAnswer),
        (status = 400, description = "`status`, `limit` or `offset` is invalid."),
        (status = 401, description = "No key, or a malformed, unknown or revoked one; or a \
            device key whose device is gone."),
        (status = 403, description = "A publishable key, or `org_id` is another org."),
        (status = 404, description = "`device_id` names no device the key can see."),
    ),
)]
pub async fn list_rounds(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let filter = ListFilter::try_from(parse_query::<ListParams>(&req)?)?;
    same_org(&credential, filter.org_id.as_deref(), "list the rounds of")?;

    let (limit, offset) = (filter.limit.get(), filter.offset.get());
    let query = ListRounds {
        status: filter.status,
        limit,
        offset,
    };
    let org_id = credential.org_id.clone();
    // The device whose platform picks the rounds: the one named, or a device key's own.
    let acting = Acting {
        credential,
        named: filter.device_id,
    };
    let now = state.clock.now();
    if assignment::wanted(&req) {
        let model = filter.model_id;
        let found = rounds::settled_read(&state.db, &org_id, now, move |conn| {
            round_assignments::list(conn, &acting, &query)
        })
        .await?;
        let shaped: Vec<RoundAssignment> = found
            .into_iter()
            .filter(|c| model.is_none() || c.round.model_id == model)
            .map(RoundAssignment::from)
            .collect();
        return Ok(HttpResponse::Ok().json(shaped));
    }
    let (rounds, total) = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        rounds::list(conn, &acting, &query)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RoundList {
        rounds: rounds.into_iter().map(RoundBody::from).collect(),
        total,
        limit,
        offset,
    }))
}
