//! `POST /api/v1/training/rounds`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::RoundBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{
    ClipNorm, DeadlineSeconds, JsonObject, MaxSteps, MinDevices, ModelId, NoiseSigma,
    TargetPlatforms, Timestamp, VersionName,
};
use crate::error::ApiError;
use crate::routes::{parse_json_object, same_org};
use crate::state::AppState;
use crate::store::rounds::{self, Plan, StartRound};

pub const ACCESS: Access = Access {
    action: "starting a training round",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// A round to start; every field is optional and the body may be empty. Unknown fields are
/// ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({
    "model_id": "keyboard-next-word-v3",
    "base_version": "1.0.0",
    "platforms": ["ios", "android"],
    "min_devices": 10,
    "deadline_seconds": 3600
})))]
struct StartRequest {
    model_id: Option<ModelId>,
    /// The version of `model_id` devices train from: one of the model's versions
    /// (`POST /api/v1/models/{model_id}/versions`). Needs `model_id`.
    base_version: Option<VersionName>,
    /// The round completes this many seconds after it starts, with the updates it has.
    /// Absent: no deadline.
    deadline_seconds: Option<DeadlineSeconds>,
    /// The plan's L2 clipping norm; default 1.0.
    clip_norm: Option<ClipNorm>,
    /// The plan's Gaussian noise; default 0 (none).
    noise_sigma: Option<NoiseSigma>,
    /// The plan's most local steps; default 100.
    max_steps: Option<MaxSteps>,
    /// Training hyperparameters passed to devices as given; default `{}`.
    hyperparams: Option<JsonObject>,
    /// Absent or empty: every platform.
    platforms: Option<TargetPlatforms>,
    min_devices: Option<MinDevices>,
    /// The key's org, if given (another org's is a 403).
    org_id: Option<String>,
}

/// Start a training round
///
/// Starts an active round in the key's org. While it is active, heartbeats of the active
/// devices it targets name it in `pending_round_id`, and the federation offers list it.
/// With `model_id` and `base_version` it names the model version devices train from; it
/// completes when `min_devices` updates are in, at its deadline, or by the operator.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "training rounds",
    request_body(content = Option<StartRequest>, description = "Optional."),
    responses(
        (status = 201, description = "Started; `Location` is the round's URL.", body = RoundBody,
            headers(("Location" = String, description = "`/api/v1/training/rounds/{id}`")),
            links(("RetrieveRound" = (operation_id = "get_round", parameters(("round_id" =
                    "$response.body#/id")), description = "Retrieve the round just started.")),
                ("CompleteRound" = (operation_id = "complete_round", parameters(("round_id" =
                    "$response.body#/id")), description = "Complete it.")),
                ("CancelRound" = (operation_id = "cancel_round", parameters(("round_id" =
                    "$response.body#/id")), description = "Cancel it.")))),
        (status = 403, description = "Not the org's secret key, or `org_id` is another org."),
        (status = 404, description = "`base_version` is not a version of `model_id` in the \
            key's org."),
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
    if request.base_version.is_some() && request.model_id.is_none() {
        return Err(ApiError::BadRequest(
            "base_version needs model_id: the model whose version devices train from".to_owned(),
        ));
    }

    let now = state.clock.now();
    let command = StartRound {
        deadline_at: request
            .deadline_seconds
            .map(|s| Timestamp(now.0 + s.get() as i64)),
        plan: Plan {
            clip_norm: request
                .clip_norm
                .map_or(Plan::DEFAULT_CLIP_NORM, ClipNorm::get),
            noise_sigma: request
                .noise_sigma
                .map_or(Plan::DEFAULT_NOISE_SIGMA, NoiseSigma::get),
            max_steps: request
                .max_steps
                .map_or(Plan::DEFAULT_MAX_STEPS, |m| m.get() as i64),
            hyperparams: serde_json::value::to_raw_value(
                &request.hyperparams.map(|h| h.0).unwrap_or_default(),
            )
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        },
        model_id: request.model_id,
        base_version: request.base_version,
        platforms: request.platforms.unwrap_or_default(),
        min_devices: request.min_devices.map(MinDevices::get),
    };
    let round = state
        .db
        .write(move |tx| rounds::start(tx, &credential, &command, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/training/rounds/{}", round.id),
        ))
        .json(RoundBody::from(round)))
}
