//! `POST /api/v1/devices/{device_id}/desired-state`

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value};

use super::desired_state::{DesiredStateAnswer, fetch, known_state_version};
use crate::auth::{Access, Caller, Target};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::desired::FetchCommand;

pub const ACCESS: Access = Access {
    action: "reading a device's desired state",
    allows: super::desired_state::DEVICE_STATE,
    target: Target::PathDevice,
};

/// Fetch a device's desired state (POST)
///
/// The Python SDK's fallback when sync fails (`{deviceId, sdkVersion, platform,
/// installedModels?, activeVersions?}`): the same answer as the GET. What the body says
/// about installed models is not stored; sync and observed-state report that.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "device state",
    operation_id = "fetch_desired_state",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's UUID `id` or its identifier.")),
    request_body(content = Option<Object>, description = "The device's context; optional."),
    responses(
        (status = 200, description = "The desired state.", body = DesiredStateAnswer),
    ),
)]
pub async fn fetch_desired_state(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let body: Map<String, Value> = parse_json_object(&body)?.unwrap_or_default();
    let known = known_state_version(&body)?;
    let command = FetchCommand {
        mark_synced: true,
        ..FetchCommand::default()
    };
    let fetched = fetch(&state, acting, command).await?;
    Ok(HttpResponse::Ok().json(DesiredStateAnswer::new(
        &state,
        &fetched,
        known.as_deref(),
        &crate::routes::artifacts::base_url(&req),
    )))
}
