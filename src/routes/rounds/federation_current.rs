//! `GET /api/v1/federations/{federation_id}/rounds/current` (the browser SDK's
//! `FederatedClient.getTrainingRound`)

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::ObjectValue;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::federation_shapes;

pub const ACCESS: Access = Access {
    action: "reading a federation's current round",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::Org,
};

/// The browser's `FederatedRound` (src/types.ts): every member required, camelCase.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(examples(json!({
    "id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "federationId": "keyboard-next-word-v3",
    "roundNumber": 18,
    "status": "in_progress",
    "modelVersion": "1.0.0",
    "config": {"epochs": 1, "batch_size": 32, "learning_rate": 0.01}
})))]
struct FederatedRound {
    #[schema(format = Uuid)]
    id: String,
    /// The model the round trains: a federation is a model's rounds.
    federation_id: String,
    /// The round's number in the org.
    round_number: i64,
    /// `in_progress`: only an active round is current.
    status: &'static str,
    /// The version the round trains from (its plan's `base_version`); empty when the
    /// plan names none.
    model_version: String,
    /// The plan's hyperparameters.
    config: ObjectValue,
}

/// Get a federation's current round
///
/// The browser SDK's round lookup: the newest active round on the model
/// `federation_id` names that the caller may take part in (a device key: one aimed at its
/// platform). A publishable key is refused, as on every round path: the browser's
/// `FederatedClient` takes the device's access token as its `apiKey`.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("federation_id" = String, Path, min_length = 1,
        description = "The model the rounds train.", example = "keyboard-next-word-v3")),
    responses(
        (status = 200, description = "The current round.", body = FederatedRound),
        (status = 404, description = "No active round on that model for the caller."),
    ),
)]
pub async fn get_current_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let acting = Acting {
        credential,
        named: None,
    };
    let (federation, now) = (path.into_inner(), state.clock.now());
    let model = federation.clone();
    let (round, plan) = state
        .db
        .write(move |tx| federation_shapes::current(tx, &acting, &model, now))
        .await?;
    Ok(HttpResponse::Ok().json(FederatedRound {
        id: round.id,
        federation_id: federation,
        round_number: round.number,
        status: "in_progress",
        model_version: round.base_version.unwrap_or_default(),
        config: ObjectValue(serde_json::from_str(plan.hyperparams.get()).unwrap_or_default()),
    }))
}
