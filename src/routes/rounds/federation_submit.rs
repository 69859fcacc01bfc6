//! `POST /api/v1/federations/{federation_id}/rounds/{round_id}/submit` (the browser SDK's
//! `FederatedClient.submitUpdate`)

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::{JsonObject, RoundStatus};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::federation::Accepted;
use crate::store::federation_shapes::{self, Submit, UpdateFor};

pub const ACCESS: Access = Access {
    action: "sending a federated update",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::BodyDevice,
};

/// The browser's body: `delta` a map of named arrays, as `submitUpdate` serialises its
/// `WeightMap`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({
    "device_id": "browser-install-1",
    "delta": {"dense/bias": {"data": [0.01, -0.02], "shape": [2]}},
    "metrics": {"loss": 0.31, "sample_count": 64}
})))]
struct SubmitRequest {
    /// The device (its identifier or `id`); required with the secret key.
    device_id: Option<String>,
    /// `{name: {data: [numbers], shape}}`, added into the round's FedAvg in name order.
    delta: JsonObject,
    /// Not kept, except `sample_count` (or `num_samples`): the update's FedAvg weight
    /// when it is a positive integer, else 1.
    metrics: Option<JsonObject>,
}

/// An update accepted into its round (also `POST /api/v1/training/weights`' answer).
#[derive(Serialize, ToSchema)]
#[schema(as = BrowserFederationUpdateAccepted)]
pub(super) struct UpdateAccepted {
    #[schema(format = Uuid)]
    round_id: String,
    /// `accepted`.
    status: &'static str,
    /// The update's weight.
    sample_count: u64,
    /// Updates the round has accepted, this one included.
    updates_received: u64,
    min_devices: Option<u32>,
    /// The round's status after this update: `completed` when it was the last one wanted.
    round_status: RoundStatus,
}

impl From<Accepted> for UpdateAccepted {
    fn from(a: Accepted) -> Self {
        UpdateAccepted {
            round_id: a.round_id,
            status: "accepted",
            sample_count: a.sample_count,
            updates_received: a.updates_received,
            min_devices: a.min_devices,
            round_status: a.round_status,
        }
    }
}

/// A positive integer `sample_count` (or `num_samples`) of `metrics`, else 1.
pub(super) fn weight_of(metrics: Option<&Map<String, Value>>) -> u64 {
    metrics
        .and_then(|m| m.get("sample_count").or_else(|| m.get("num_samples")))
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// Submit an update to a federation's round
///
/// Adds the device's update into the round's FedAvg as a one-part upload would: the
/// device must have joined the round; the update is clipped to the plan's `clip_norm`,
/// must be as long as the round's other updates, and is the device's only one; the round
/// completes when it has `min_devices` updates. A refused update keeps nothing.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "federation",
    params(
        ("federation_id" = String, Path, min_length = 1, description = "The model the rounds train."),
        ("round_id" = String, Path, min_length = 1,
            description = "The round's `id`, or its `number` in the org."),
    ),
    request_body(content = SubmitRequest, description = "The update."),
    responses(
        (status = 200, description = "Accepted.", body = UpdateAccepted),
        (status = 404, description = "No such round of that federation that the device may take part in."),
        (status = 409, description = "The device has not joined the round, the round has ended, \
            or it already has the device's update."),
    ),
)]
pub async fn submit_federation_update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: SubmitRequest = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest("delta is required: the update's named arrays".to_owned())
    })?;
    let update =
        crate::weights::read_named_arrays(&request.delta.0).map_err(ApiError::BadRequest)?;
    let acting = Acting {
        credential,
        named: request.device_id.filter(|d| !d.is_empty()),
    };
    let (federation, round) = path.into_inner();
    let limits = state.uploads;
    let command = Submit {
        to: UpdateFor::Round { federation, round },
        update,
        sample_count: weight_of(request.metrics.as_ref().map(|m| &m.0)),
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
