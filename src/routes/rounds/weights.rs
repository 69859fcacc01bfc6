//! `POST /api/v1/training/weights` (the legacy upload of Python's `FederatedClient.train`,
//! iOS's `APIClient.uploadWeights`, Android's `WeightUploadRequest`)

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::federation_submit::UpdateAccepted;
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::JsonObject;
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::federation_shapes::{self, Submit, UpdateFor};

pub const ACCESS: Access = Access {
    action: "sending a federated update",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::BodyDevice,
};

/// Python's `{model_id, version, device_id, sample_count, metrics, update_format,
/// weights_data}` and iOS's `WeightUpdate` (the same snake_case members, and `dp_*`).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "model_id": "keyboard-next-word-v3",
    "version": "1.0.0",
    "device_id": "laptop-001",
    "sample_count": 64,
    "metrics": {"loss": 0.31},
    "update_format": "weights",
    "weights_data": "WzAuMDEsIC0wLjAyXQ=="
})))]
struct WeightsRequest {
    /// The model whose newest active round (aimed at the device's platform) takes the
    /// update; the device joins it if it has not.
    model_id: String,
    /// The version trained from; not checked.
    #[serde(rename = "version")]
    _version: Option<Value>,
    /// The device (its identifier or `id`); required with the secret key.
    device_id: Option<String>,
    /// Base64 of the update: an iOS `PTTH` payload, a NumPy `.npy` float array, a JSON
    /// array of numbers or a `plaintext_json` envelope (not a `torch.save` pickle).
    weights_data: String,
    /// The update's FedAvg weight; 0 or absent counts as 1.
    sample_count: Option<u64>,
    /// Not kept.
    #[serde(rename = "metrics")]
    _metrics: Option<JsonObject>,
}

/// Upload a weight update (legacy)
///
/// The older SDKs' upload, which names a model rather than a round: the update goes into
/// the newest active round on `model_id` the device may take part in (joined now if need
/// be) exactly as an upload through the federation paths would: clipped to the plan's
/// `clip_norm`, as long as the round's other updates, one per device; the round completes
/// at `min_devices`. A refused update keeps nothing.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "federation",
    request_body(content = WeightsRequest, description = "The update."),
    responses(
        (status = 200, description = "Accepted.", body = UpdateAccepted),
        (status = 404, description = "No active round on that model for the device."),
        (status = 409, description = "The round already has the device's update."),
    ),
)]
pub async fn upload_weights(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: WeightsRequest = parse_json_object(&body)?
        .ok_or_else(|| ApiError::BadRequest("model_id and weights_data are required".to_owned()))?;
    if request.model_id.is_empty() {
        return Err(ApiError::BadRequest(
            "model_id must name the model being trained, got an empty string".to_owned(),
        ));
    }
    // The document's integer is an int64, as every other sample count is.
    if let Some(n) = request.sample_count.filter(|n| i64::try_from(*n).is_err()) {
        return Err(ApiError::BadRequest(format!(
            "sample_count must be at most {}, got {n}",
            i64::MAX
        )));
    }
    let bytes =
        crate::weights::decode_base64(&request.weights_data).map_err(ApiError::BadRequest)?;
    let update = web::block(move || crate::weights::read_update(&bytes))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::BadRequest)?;
    let acting = Acting {
        credential,
        named: request.device_id.filter(|d| !d.is_empty()),
    };
    let limits = state.uploads;
    let command = Submit {
        to: UpdateFor::Model(request.model_id),
        update,
        sample_count: request.sample_count.filter(|n| *n > 0).unwrap_or(1),
        per_device: limits.per_device,
        per_round: limits.per_round,
        max_bytes: limits.max_bytes,
    };
    let now = state.clock.now();
    let accepted = state
        .db
        .write(move |tx| federation_shapes::submit(tx, &acting, &command, now))
        .await?;
    Ok(HttpResponse::Ok().json(UpdateAccepted::from(accepted)))
}
