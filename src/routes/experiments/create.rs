//! `POST /api/v1/experiments`

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::ExperimentBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::experiments::{self, NewExperiment, Variant};

pub const ACCESS: Access = Access {
    action: "creating an experiment",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// The most variants an experiment may have.
const MAX_VARIANTS: usize = 10;

/// One variant: a version of the experiment's model and its share of the devices, as
/// `traffic_allocation` (the Python SDK's, a number) or `traffic_percentage`.
#[derive(Debug, Deserialize, ToSchema)]
struct VariantRequest {
    /// Its id in answers and results; default its name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    id: Option<String>,
    /// Unique within the experiment.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    model_version: String,
    /// If sent, must be the experiment's `model_id`.
    model_id: Option<String>,
    /// Percent of the experiment's devices, 0 to 100.
    #[schema(minimum = 0, maximum = 100)]
    traffic_allocation: Option<f64>,
    /// The same, under the iOS SDK's name.
    #[schema(minimum = 0, maximum = 100)]
    traffic_percentage: Option<f64>,
    #[serde(default)]
    is_control: bool,
}

/// An experiment to create: the Python SDK's `ExperimentsAPI.create` body.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "name": "kbd-v2-vs-v1",
    "model_id": "kbd-next-word",
    "description": null,
    "traffic_percentage": 100.0,
    "min_sample_size": 100,
    "confidence_level": 0.95,
    "primary_metric": "accuracy",
    "variants": [
        {"name": "control", "model_version": "1.0.0", "traffic_allocation": 50.0, "is_control": true},
        {"name": "treatment", "model_version": "2.0.0", "traffic_allocation": 50.0, "is_control": false}
    ]
})))]
struct CreateExperiment {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    model_id: String,
    description: Option<String>,
    /// Percent of the org's devices in the experiment at all (default 100); each
    /// variant's share of the devices is its allocation times this over 100, which must
    /// come to a whole number of percent.
    #[schema(minimum = 0, maximum = 100)]
    traffic_percentage: Option<f64>,
    min_sample_size: Option<i64>,
    #[schema(exclusive_minimum = 0, exclusive_maximum = 1)]
    confidence_level: Option<f64>,
    primary_metric: Option<String>,
    #[schema(min_items = 1, max_items = 10)]
    variants: Vec<VariantRequest>,
}

fn text(field: &str, value: String, max: usize) -> Result<String, ApiError> {
    let count = value.chars().count();
    if count == 0 || count > max || value.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{field} must be 1 to {max} characters with no control characters, got {}",
            quoted(&value)
        )));
    }
    Ok(value)
}

fn percent(field: &str, value: f64) -> Result<f64, ApiError> {
    if !(0.0..=100.0).contains(&value) {
        return Err(ApiError::BadRequest(format!(
            "{field} must be a number from 0 to 100, got {value}"
        )));
    }
    Ok(value)
}

impl CreateExperiment {
    fn into_command(self) -> Result<NewExperiment, ApiError> {
        let name = text("name", self.name, 200)?;
        let model_id = text("model_id", self.model_id, 255)?;
        let traffic = percent(
            "traffic_percentage",
            self.traffic_percentage.unwrap_or(100.0),
        )?;
        if self.variants.is_empty() || self.variants.len() > MAX_VARIANTS {
            return Err(ApiError::BadRequest(format!(
                "variants must hold 1 to {MAX_VARIANTS} variants, got {}",
                self.variants.len()
            )));
        }
        let mut variants: Vec<Variant> = Vec::new();
        for (i, v) in self.variants.into_iter().enumerate() {
            let name = text(&format!("variants[{i}].name"), v.name, 100)?;
            let id = text(
                &format!("variants[{i}].id"),
                v.id.unwrap_or(name.clone()),
                100,
            )?;
            if variants.iter().any(|w| w.id == id || w.name == name) {
                return Err(ApiError::BadRequest(format!(
                    "variants[{i}]: the name and id of each variant must be unique, {} is taken",
                    quoted(&name)
                )));
            }
            if let Some(other) = v.model_id.filter(|m| *m != model_id) {
                return Err(ApiError::BadRequest(format!(
                    "variants[{i}].model_id must be the experiment's model_id {}, got {}",
                    quoted(&model_id),
                    quoted(&other)
                )));
            }
            let field = format!("variants[{i}].traffic_allocation");
            let allocation = percent(
                &field,
                v.traffic_allocation
                    .or(v.traffic_percentage)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("{field} is required: a number from 0 to 100"))
                    })?,
            )?;
            let share = allocation * traffic / 100.0;
            if (share - share.round()).abs() > 1e-9 {
                return Err(ApiError::BadRequest(format!(
                    "{field} times traffic_percentage over 100 must be a whole number of percent \
                     (devices are assigned in buckets of 1%), got {share}"
                )));
            }
            variants.push(Variant {
                id,
                name,
                model_version: text(
                    &format!("variants[{i}].model_version"),
                    v.model_version,
                    255,
                )?,
                // In 0..=100, checked above.
                traffic_percentage: share.round() as u32,
                is_control: v.is_control,
            });
        }
        let total: u32 = variants.iter().map(|v| v.traffic_percentage).sum();
        if total > 100 {
            return Err(ApiError::BadRequest(format!(
                "the variants' traffic shares must add up to at most 100 percent, got {total}"
            )));
        }
        if let Some(level) = self.confidence_level
            && !(level > 0.0 && level < 1.0)
        {
            return Err(ApiError::BadRequest(format!(
                "confidence_level must be a number between 0 and 1, got {level}"
            )));
        }
        Ok(NewExperiment {
            name,
            model_id,
            description: self.description,
            primary_metric: self.primary_metric,
            min_sample_size: self.min_sample_size,
            confidence_level: self.confidence_level,
            variants,
        })
    }
}

/// Create an experiment
///
/// Creates a draft experiment over versions of one model of the key's org; `start`
/// makes it active. Each variant's share is its `traffic_allocation` (or
/// `traffic_percentage`) times the experiment's `traffic_percentage` over 100, a whole
/// number of percent; the shares add up to at most 100 (devices in the rest are in no
/// variant). An unknown model or version is a 404 naming it.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "experiments",
    request_body(content = CreateExperiment, description = "The experiment."),
    responses(
        (status = 201, description = "Created, as a draft; `Location` is its URL.",
            body = ExperimentBody,
            headers(("Location" = String, description = "`/api/v1/experiments/{id}`"))),
        (status = 404, description = "The org's model has no such version."),
    ),
)]
pub async fn create_experiment(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: CreateExperiment = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest("name, model_id and variants are required".to_owned())
    })?;
    let new = request.into_command()?;
    let (org_id, now) = (credential.org_id.clone(), state.clock.now());
    let experiment = state
        .db
        .write(move |tx| experiments::create(tx, org_id.as_str(), &new, now))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/experiments/{}", experiment.id),
        ))
        .json(ExperimentBody::of(&experiment)))
}
