//! `GET /api/v1/experiments/{experiment_id}/results`

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::ExperimentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::experiments::{self, VariantResults};

pub const ACCESS: Access = Access {
    action: "reading an experiment's results",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// One variant's results.
#[derive(Serialize, ToSchema)]
struct VariantResult<'a> {
    /// The variant's id; `null` for reports made while the device was in no variant.
    variant_id: Option<&'a str>,
    name: Option<&'a str>,
    model_version: Option<&'a str>,
    traffic_percentage: Option<u32>,
    /// The org's devices whose bucket is in this variant now.
    assigned_devices: u64,
    /// Devices that reported to it.
    devices: u64,
    /// Reports (events and metrics) it received.
    events: u64,
    /// Per metric name: the count and mean of its numeric values.
    metrics: BTreeMap<&'a str, Metric>,
}

/// A metric's numeric values, summarised.
#[derive(Serialize, ToSchema)]
struct Metric {
    count: i64,
    mean: f64,
}

fn metrics(r: &VariantResults) -> BTreeMap<&str, Metric> {
    r.metrics
        .iter()
        .map(|(name, (count, mean))| {
            (
                name.as_str(),
                Metric {
                    count: *count,
                    mean: *mean,
                },
            )
        })
        .collect()
}

/// An experiment and its results per variant.
#[derive(Serialize, ToSchema)]
struct ResultsBody<'a> {
    experiment: ExperimentBody<'a>,
    variants: Vec<VariantResult<'a>>,
}

/// Read an experiment's results
///
/// Per variant: the devices assigned to it now, the devices that reported, the reports,
/// and the count and mean of each numeric metric (`POST .../events` and `.../metrics`).
/// Reports a device made while in no variant (the experiment not active, or the device
/// outside the shares) come last, under `variant_id: null`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "experiments",
    params(("experiment_id" = String, Path, min_length = 1, description = "The experiment's id.")),
    responses(
        (status = 200, description = "The results.", body = ResultsBody),
        (status = 404, description = "No such experiment in the key's org."),
    ),
)]
pub async fn get_results(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let (org_id, id) = (credential.org_id.clone(), path.into_inner());
    let (experiment, results) = state
        .db
        .read(move |conn| experiments::results(conn, org_id.as_str(), &id))
        .await?;
    let empty = VariantResults::default();
    let mut variants: Vec<VariantResult> = experiment
        .variants
        .iter()
        .map(|v| {
            let r = results.get(&v.id).unwrap_or(&empty);
            VariantResult {
                variant_id: Some(&v.id),
                name: Some(&v.name),
                model_version: Some(&v.model_version),
                traffic_percentage: Some(v.traffic_percentage),
                assigned_devices: r.assigned_devices,
                devices: r.devices,
                events: r.events,
                metrics: metrics(r),
            }
        })
        .collect();
    if let Some(r) = results.get("") {
        variants.push(VariantResult {
            variant_id: None,
            name: None,
            model_version: None,
            traffic_percentage: None,
            assigned_devices: 0,
            devices: r.devices,
            events: r.events,
            metrics: metrics(r),
        });
    }
    Ok(HttpResponse::Ok().json(ResultsBody {
        experiment: ExperimentBody::of(&experiment),
        variants,
    }))
}
