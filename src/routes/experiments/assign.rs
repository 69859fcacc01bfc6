//! `GET /api/v1/experiments/{experiment_id}/assign`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::VariantBody;
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::AppState;
use crate::store::experiments;

pub const ACCESS: Access = Access {
    action: "assigning a device in an experiment",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::BodyDevice,
};

#[derive(Deserialize)]
struct Query {
    device_id: Option<String>,
}

/// A device's variant: the variant object the Python SDK's `get_variant` returns, with
/// the experiment, the device and its bucket.
#[derive(Serialize, ToSchema)]
struct AssignmentBody<'a> {
    #[serde(flatten)]
    variant: VariantBody<'a>,
    #[schema(format = Uuid)]
    experiment_id: &'a str,
    /// The device's id (its UUID, which the bucket hashes).
    #[schema(format = Uuid)]
    device_id: &'a str,
    /// 0 to 99: the first four bytes of SHA-256 of `"{experiment_id}:{device_id}"`,
    /// big-endian, modulo 100, as the iOS SDK computes it.
    #[schema(maximum = 99)]
    bucket: u32,
}

/// Assign a device
///
/// The variant of an active experiment the device is in, by the rule the iOS SDK
/// assigns with locally (docs/api.md, "Experiments"): `device_id` names it (its
/// identifier or UUID; a device's own credential may leave it out). A device whose
/// bucket falls outside the variants' shares, or an experiment that is not active, is a
/// 404 (the Python SDK reads any error as "not enrolled").
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "experiments",
    params(
        ("experiment_id" = String, Path, min_length = 1, description = "The experiment's id."),
        ("device_id" = Option<String>, Query, description = "The device: its identifier or \
            UUID."),
    ),
    responses(
        (status = 200, description = "The device's variant.", body = AssignmentBody),
        (status = 404, description = "No such experiment, it is not active, or the device \
            is in no variant."),
    ),
)]
pub async fn assign_device(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let query: Query = parse_query(&req)?;
    let acting = ACCESS.acting(caller, query.device_id.filter(|d| !d.is_empty()))?;
    let id = path.into_inner();
    let assignment = state
        .db
        .read(move |conn| experiments::assign(conn, &acting, &id))
        .await?;
    Ok(HttpResponse::Ok().json(AssignmentBody {
        variant: VariantBody::of(&assignment.experiment.model_id, &assignment.variant),
        experiment_id: &assignment.experiment.id,
        device_id: &assignment.device_id,
        bucket: assignment.bucket,
    }))
}
