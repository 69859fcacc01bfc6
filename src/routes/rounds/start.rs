//! `POST /api/v1/training/rounds`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::RoundBody;
use crate::auth::{Access, Allow, Caller};
use crate::domain::{MinDevices, ModelId, TargetPlatforms};
use crate::error::ApiError;
use crate::routes::{parse_json_object, same_org};
use crate::state::AppState;
use crate::store::rounds;

pub const ACCESS: Access = Access {
    action: "starting a training round",
    allows: &[Allow::Secret],
};

/// A round to start; every field is optional and the body may be empty. Unknown fields are
/// ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({
    "model_id": "keyboard-next-word-v3",
    "platforms": ["ios", "android"],
    "min_devices": 10
})))]
struct StartRequest {
    model_id: Option<ModelId>,
    /// Absent or empty: every platform.
    platforms: Option<TargetPlatforms>,
    min_devices: Option<MinDevices>,
    /// The key's org, if given (another org's is a 403).
    org_id: Option<String>,
}

/// Start a training round
///
/// Starts an active round in the key's org. While it is active, heartbeats of the active
/// devices it targets name it in `pending_round_id`.
#[utoipa::path(post, path = "/api/v1/training/rounds", tag = "training rounds",
    request_body(content = Option<StartRequest>, description = "Optional."),
    responses(
        (status = 201, description = "Started; `Location` is the round's URL.", body = RoundBody,
            headers(("Location" = String, description = "`/api/v1/training/rounds/{id}`"))),
        (status = 403, description = "Not the org's secret key, or `org_id` is another org."),
    ),
)]
pub async fn start_round(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: StartRequest = parse_json_object(&body)?.unwrap_or_default();
    same_org(&credential, request.org_id.as_deref(), "start rounds in")?;

    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let platforms_json = request.platforms.unwrap_or_default().to_json();
    let now = state.clock.now();
    let round = state
        .db
        .write(move |tx| {
            let round = rounds::insert(
                tx,
                &rounds::NewRound {
                    id: &id,
                    org_id: credential.org_id.as_str(),
                    model_id: request.model_id.as_ref().map(ModelId::as_str),
                    platforms_json: &platforms_json,
                    min_devices: request.min_devices.map(MinDevices::get),
                    now,
                },
            )?;
            super::round_event(tx, "round.started", &round)?;
            Ok::<_, crate::store::StoreError>(round)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/training/rounds/{}", round.id),
        ))
        .json(RoundBody::from(round)))
}
