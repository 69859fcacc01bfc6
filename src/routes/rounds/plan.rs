//! `GET /api/v1/federation/plans/{plan_id}`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::federation::ALGORITHM;
use crate::routes::{parse_query, quoted};
use crate::state::AppState;
use crate::store::federation;
use crate::store::rounds::{self, Plan, Round};

pub const ACCESS: Access = Access {
    action: "reading a training plan",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::Org,
};

/// The SDK's default for `max_duration_sec`, sent for rounds without a deadline.
const MAX_DURATION_SECS: i64 = 300;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PlanParams {
    /// `contract`: only the generated contract's `TrainingPlan` fields, camelCase (its
    /// Python model forbids any other key). Absent: both SDKs' fields.
    #[param(pattern = "^contract$", example = "contract")]
    view: Option<String>,
}

/// Retrieve a training plan
///
/// How a round's devices train: what the Python device agent requires (`plan_id,
/// round_id, model_id, base_version`, and `algorithm, hyperparams, clip_norm,
/// noise_sigma, secure_agg_config, max_duration_sec, max_steps`) beside the generated
/// contract's camelCase `TrainingPlan` (`planId, roundId, jobId, modelArtifactId,
/// hyperparameters, privacyConfig, expiresAt`). A round's plan id is its id. With a
/// device key, only the plans of rounds its device may take part in.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("plan_id" = String, Path, min_length = 1,
        description = "The plan's id (its round's `id`), or the round's `number`.",
        example = "1"), PlanParams),
    responses(
        (status = 200, description = "The plan.", body = Object, example = json!({
            "plan_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "round_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "model_id": "kbd-next-word",
            "base_version": "1.0.0",
            "algorithm": "fedavg",
            "hyperparams": {},
            "clip_norm": 1.0,
            "noise_sigma": 0.0,
            "secure_agg_config": null,
            "max_duration_sec": 300,
            "max_steps": 100,
            "planId": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "roundId": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "jobId": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
            "modelArtifactId": "art_3f9a",
            "hyperparameters": {"epochs": 1, "batchSize": 32, "learningRate": 0.01},
            "privacyConfig": {"mechanism": "none", "clipNorm": 1.0},
            "expiresAt": "2026-02-24T16:30:00Z"
        })),
        (status = 400, description = "`view` is not `contract`."),
        (status = 404, description = "No such plan that the key can see."),
    ),
)]
pub async fn get_plan(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let contract = match parse_query::<PlanParams>(&req)?.view.as_deref() {
        None => false,
        Some("contract") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "view must be \"contract\" or absent, got {}",
                quoted(other)
            )));
        }
    };
    let reference = path.into_inner();
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    let found = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        federation::training_plan(conn, &credential, &reference)
    })
    .await?;
    let body = plan_body(&found.round, &found.plan, found.artifact_id, now, contract);
    Ok(HttpResponse::Ok().json(body))
}

fn plan_body(
    round: &Round,
    plan: &Plan,
    artifact_id: Option<String>,
    now: Timestamp,
    contract: bool,
) -> Value {
    let hyper: Value = serde_json::from_str(plan.hyperparams.get()).unwrap_or_else(|_| json!({}));
    let pick = |names: &[&str]| names.iter().find_map(|n| hyper.get(*n).cloned());
    let hyperparameters = json!({
        "epochs": pick(&["epochs"]).filter(|v| v.as_u64().is_some_and(|n| n >= 1)).unwrap_or(json!(1)),
        "batchSize": pick(&["batchSize", "batch_size"]).filter(|v| v.as_u64().is_some_and(|n| n >= 1)).unwrap_or(json!(32)),
        "learningRate": pick(&["learningRate", "learning_rate"]).filter(|v| v.as_f64().is_some_and(|f| f > 0.0)).unwrap_or(json!(0.01)),
    });
    let mut privacy = json!({
        "mechanism": if plan.noise_sigma > 0.0 { "gaussian" } else { "none" },
        "clipNorm": plan.clip_norm,
    });
    if plan.noise_sigma > 0.0 {
        privacy["noiseMultiplier"] = json!(plan.noise_sigma);
    }
    // The contract requires a deadline; a round without one gets a day from now.
    let expires_at = round.deadline_at.unwrap_or(Timestamp(now.0 + 86_400));
    let mut body = json!({
        "planId": round.id,
        "roundId": round.id,
        "jobId": round.id,
        "modelArtifactId": artifact_id.or(round.model_id.clone()).unwrap_or_default(),
        "hyperparameters": hyperparameters,
        "privacyConfig": privacy,
        "expiresAt": expires_at,
    });
    if contract {
        return body;
    }
    let max_duration = round
        .deadline_at
        .map_or(MAX_DURATION_SECS, |d| (d.0 - now.0).max(1));
    let snake = json!({
        "plan_id": round.id,
        "round_id": round.id,
        "model_id": round.model_id,
        "base_version": round.base_version,
        "algorithm": ALGORITHM,
        "hyperparams": hyper,
        "clip_norm": plan.clip_norm,
        "noise_sigma": plan.noise_sigma,
        "secure_agg_config": null,
        "max_duration_sec": max_duration,
        "max_steps": plan.max_steps,
        "expires_at": round.deadline_at,
    });
    let mut merged = snake.as_object().cloned().unwrap_or_default();
    merged.extend(body.as_object_mut().map(std::mem::take).unwrap_or_default());
    Value::Object(merged)
}
