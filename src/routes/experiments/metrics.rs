//! `POST /api/v1/experiments/{experiment_id}/metrics`

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::experiments::{self, Report};

pub const ACCESS: Access = Access {
    action: "reporting to an experiment",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::BodyDevice,
};

/// A metric, as the browser SDK's `trackMetric` sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "metric_name": "accuracy", "value": 0.91, "device_id": "laptop-001",
    "timestamp": 1764104253000_i64
})))]
struct MetricRequest {
    metric_name: String,
    value: Option<f64>,
    /// The device's identifier or UUID; absent with a device credential: its own.
    device_id: Option<String>,
    /// When it was measured, Unix milliseconds.
    timestamp: Option<i64>,
}

/// Report an experiment metric
///
/// Stores a device's metric (the browser SDK's `trackMetric`) under the variant the
/// device is in while the experiment is active; results average it. Answers
/// `{"accepted": true, "variant_id"}`.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "experiments",
    params(("experiment_id" = String, Path, min_length = 1, description = "The experiment's id.")),
    request_body(content = MetricRequest, description = "The metric."),
    responses(
        (status = 200, description = "Stored.", body = Object,
            example = json!({"accepted": true, "variant_id": "treatment"})),
        (status = 404, description = "No such experiment in the key's org."),
    ),
)]
pub async fn report_metric(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: Option<MetricRequest> = parse_json_object(&body)?;
    let request = request
        .ok_or_else(|| ApiError::BadRequest("metric_name and value are required".to_owned()))?;
    let acting = Acting {
        credential,
        named: request.device_id.filter(|d| !d.is_empty()),
    };
    let value = request
        .value
        .filter(|v| v.is_finite())
        .ok_or_else(|| ApiError::BadRequest("value is required: a number".to_owned()))?;
    let report = Report {
        kind: "metric",
        name: request.metric_name,
        value: Some(value),
        at: request.timestamp.map(|ms| Timestamp(ms.div_euclid(1000))),
    };
    let (id, now) = (path.into_inner(), state.clock.now());
    let variant = state
        .db
        .write(move |tx| experiments::report(tx, &acting, &id, &report, now))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"accepted": true, "variant_id": variant})))
}
