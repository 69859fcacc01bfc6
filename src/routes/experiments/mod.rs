//! Experiments (A/B tests): the operator's management calls (the Python SDK's
//! `control_plane.py`), the devices' reads (iOS, browser, Python `assign`), their metric
//! and event reports, and the results per variant. One shape of an experiment serves
//! every SDK: each variant carries both casings (iOS reads snake_case, the browser
//! camelCase, and both ignore what they do not know); only the list's envelope differs
//! (`list.rs`).

pub mod assign;
pub mod cancel;
pub mod complete;
pub mod create;
pub mod get;
pub mod list;
pub mod metrics;
pub mod pause;
pub mod report;
pub mod results;
pub mod resume;
pub mod start;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Caller};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::quoted;
use crate::state::AppState;
use crate::store::experiments::{self, Action, Experiment, Refusal, Variant};

/// A variant, in both casings.
#[derive(Serialize, ToSchema)]
pub struct VariantBody<'a> {
    id: &'a str,
    /// `control`, `treatment`, or the name it was created with.
    name: &'a str,
    model_id: &'a str,
    model_version: &'a str,
    /// The whole-number percentage of the org's devices in it (iOS decodes an `Int`).
    traffic_percentage: u32,
    /// The same share, as the Python SDK sends it.
    traffic_allocation: f64,
    is_control: bool,
    /// `model_id`, for the browser SDK.
    #[serde(rename = "modelId")]
    model_id_camel: &'a str,
    /// `model_version`, for the browser SDK.
    #[serde(rename = "modelVersion")]
    model_version_camel: &'a str,
    /// `traffic_percentage`, for the browser SDK.
    #[serde(rename = "trafficPercentage")]
    traffic_percentage_camel: u32,
}

impl<'a> VariantBody<'a> {
    pub fn of(model_id: &'a str, v: &'a Variant) -> VariantBody<'a> {
        VariantBody {
            id: &v.id,
            name: &v.name,
            model_id,
            model_version: &v.model_version,
            traffic_percentage: v.traffic_percentage,
            traffic_allocation: f64::from(v.traffic_percentage),
            is_control: v.is_control,
            model_id_camel: model_id,
            model_version_camel: &v.model_version,
            traffic_percentage_camel: v.traffic_percentage,
        }
    }
}

/// An experiment: what every SDK reads of one.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "01a21490-5c3d-7e2f-9a1b-2c3d4e5f6a7b",
    "org_id": "org_demo",
    "name": "kbd-v2-vs-v1",
    "model_id": "kbd-next-word",
    "description": null,
    "status": "active",
    "primary_metric": "accuracy",
    "min_sample_size": 100,
    "confidence_level": 0.95,
    "variants": [
        {"id": "control", "name": "control", "model_id": "kbd-next-word",
         "model_version": "1.0.0", "traffic_percentage": 50, "traffic_allocation": 50.0,
         "is_control": true, "modelId": "kbd-next-word", "modelVersion": "1.0.0",
         "trafficPercentage": 50},
        {"id": "treatment", "name": "treatment", "model_id": "kbd-next-word",
         "model_version": "2.0.0", "traffic_percentage": 50, "traffic_allocation": 50.0,
         "is_control": false, "modelId": "kbd-next-word", "modelVersion": "2.0.0",
         "trafficPercentage": 50}
    ],
    "created_at": "2026-11-25T20:57:33Z",
    "createdAt": "2026-11-25T20:57:33Z",
    "updated_at": "2026-11-25T20:57:33Z"
})))]
pub struct ExperimentBody<'a> {
    #[schema(format = Uuid)]
    id: &'a str,
    org_id: &'a str,
    name: &'a str,
    model_id: &'a str,
    description: Option<&'a str>,
    /// `draft`, `active` (running: what iOS assigns in), `paused`, `completed` or
    /// `cancelled`.
    status: &'static str,
    primary_metric: Option<&'a str>,
    min_sample_size: Option<i64>,
    confidence_level: Option<f64>,
    variants: Vec<VariantBody<'a>>,
    created_at: Timestamp,
    /// `created_at`, for the browser SDK.
    #[serde(rename = "createdAt")]
    created_at_camel: Timestamp,
    updated_at: Timestamp,
}

/// The status an experiment shows: running is `active`, the word iOS assigns in
/// (ExperimentsClient.swift `getVariant`) and the browser asks for (`?status=active`).
pub fn shown_status(stored: &str) -> &'static str {
    match stored {
        "draft" => "draft",
        "running" => "active",
        "paused" => "paused",
        "completed" => "completed",
        _ => "cancelled",
    }
}

impl<'a> ExperimentBody<'a> {
    pub fn of(e: &'a Experiment) -> ExperimentBody<'a> {
        ExperimentBody {
            id: &e.id,
            org_id: &e.org_id,
            name: &e.name,
            model_id: &e.model_id,
            description: e.description.as_deref(),
            status: shown_status(&e.status),
            primary_metric: e.primary_metric.as_deref(),
            min_sample_size: e.min_sample_size,
            confidence_level: e.confidence_level,
            variants: e
                .variants
                .iter()
                .map(|v| VariantBody::of(&e.model_id, v))
                .collect(),
            created_at: e.created_at,
            created_at_camel: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// One lifecycle step, shared by the five handlers that take one: the org's secret key,
/// no body read, the experiment as it is afterwards.
async fn step(
    state: web::Data<AppState>,
    access: &Access,
    caller: Caller,
    id: String,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    let credential = access.require(caller)?;
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    let experiment = state
        .db
        .write(move |tx| experiments::transition(tx, org_id.as_str(), &id, action, now))
        .await?;
    Ok(HttpResponse::Ok().json(ExperimentBody::of(&experiment)))
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound(id) => {
                ApiError::NotFound(format!("no experiment {} in this key's org", quoted(&id)))
            }
            Refusal::NoVersion { model_id, version } => ApiError::NotFound(format!(
                "model {} has no version {} in this key's org: add it with POST \
                 /api/v1/models/{{model_id}}/versions first",
                quoted(&model_id),
                quoted(&version)
            )),
            Refusal::Transition { id, status, action } => ApiError::Conflict(format!(
                "experiment {} is {}; it cannot {action}",
                quoted(&id),
                shown_status(&status)
            )),
            Refusal::ModelBusy { model_id, other } => ApiError::Conflict(format!(
                "experiment {} on model {} is active: a device runs one version of a model, \
                 so pause, complete or cancel it first",
                quoted(&other),
                quoted(&model_id)
            )),
            Refusal::NotRunning { id, status } => ApiError::NotFound(format!(
                "experiment {} is {}: only an active experiment assigns devices",
                quoted(&id),
                shown_status(&status)
            )),
            Refusal::NotEnrolled { id, device_id } => ApiError::NotFound(format!(
                "device {} is in no variant of experiment {}: its bucket falls outside the \
                 variants' traffic shares",
                quoted(&device_id),
                quoted(&id)
            )),
            Refusal::NotActing(refusal) => refusal.into(),
            Refusal::Store(err) => err.into(),
        }
    }
}
