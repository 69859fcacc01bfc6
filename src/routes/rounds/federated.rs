//! Federated rounds through the SDKs (issue 17): the paths of the generated contract
//! (`/api/v1/federation/rounds/offers`, `.../updates/initiate`, ...) and of the Python
//! device agent `DeviceFederatedClient` (`/api/v1/federation/offers`, `.../uploads`, ...)
//! over the rounds of `/api/v1/training/rounds`.
//!
//! The walk: offers → join (with the agent's own `participation_id`) → plan → initiate an
//! upload, which hands out `part_urls` on devreg itself → `PUT` each part with the
//! device's credential → complete, which joins the parts, checks the envelope's `size`
//! and `sha256` and adds the update into the round's FedAvg. The round completes when
//! `min_devices` updates are in, at its deadline (read from the server's clock whenever a
//! round is looked at), or by the operator; its result is then kept.
//!
//! Where SDKs read different casings both are sent, except the plan: the generated
//! Python client validates it against a model that forbids unknown keys, so it gets the
//! contract's exact shape with `?view=contract`.

use actix_web::HttpRequest;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Acting;
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::federation;
use crate::store::rounds::{self, Round};

/// The base URL devreg is reached at, as the request says: part URLs point back here.
pub fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// One round offered to a device, in both casings: the Python device agent needs
/// `round_id` and `plan_id` (its only way to learn a plan id).
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "round_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "roundId": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "round_number": 18,
    "plan_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "planId": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "model_id": "kbd-next-word",
    "modelId": "kbd-next-word",
    "base_version": "1.0.0",
    "baseVersion": "1.0.0",
    "min_devices": 3,
    "joined": false,
    "expires_at": null,
    "expiresAt": null
})))]
pub struct Offer {
    #[schema(format = Uuid)]
    round_id: String,
    #[serde(rename = "roundId")]
    #[schema(format = Uuid)]
    round_id_camel: String,
    round_number: i64,
    #[schema(format = Uuid)]
    plan_id: String,
    #[serde(rename = "planId")]
    #[schema(format = Uuid)]
    plan_id_camel: String,
    model_id: Option<String>,
    #[serde(rename = "modelId")]
    model_id_camel: Option<String>,
    base_version: Option<String>,
    #[serde(rename = "baseVersion")]
    base_version_camel: Option<String>,
    min_devices: Option<u32>,
    /// Whether the device has joined the round already.
    joined: bool,
    /// The round's deadline; null for none.
    expires_at: Option<Timestamp>,
    #[serde(rename = "expiresAt")]
    expires_at_camel: Option<Timestamp>,
}

impl Offer {
    fn of(round: Round, joined: bool) -> Offer {
        Offer {
            round_id_camel: round.id.clone(),
            plan_id: round.id.clone(),
            plan_id_camel: round.id.clone(),
            round_id: round.id,
            round_number: round.number,
            model_id_camel: round.model_id.clone(),
            model_id: round.model_id,
            base_version_camel: round.base_version.clone(),
            base_version: round.base_version,
            min_devices: round.min_devices,
            joined,
            expires_at: round.deadline_at,
            expires_at_camel: round.deadline_at,
        }
    }
}

/// The offers for the device a request names (or the device credential's own): its org's
/// active rounds for its platform, before their deadline, that have no update of it yet
/// (none for an inactive device).
pub async fn offers_for(state: &AppState, acting: Acting) -> Result<Vec<Offer>, ApiError> {
    let now = state.clock.now();
    let org_id = acting.credential.org_id.clone();
    let offers = rounds::settled_read(&state.db, &org_id, now, move |conn| {
        federation::offers(conn, &acting, now)
    })
    .await?;
    Ok(offers
        .into_iter()
        .map(|(round, joined)| Offer::of(round, joined))
        .collect())
}

/// `device_id` or `deviceId`, whichever was sent (both must agree).
pub fn either_name(
    snake: Option<String>,
    camel: Option<String>,
) -> Result<Option<String>, ApiError> {
    match (
        snake.filter(|s| !s.is_empty()),
        camel.filter(|s| !s.is_empty()),
    ) {
        (Some(a), Some(b)) if a != b => Err(ApiError::BadRequest(format!(
            "device_id ({}) and deviceId ({}) must agree when both are sent",
            crate::routes::quoted(&a),
            crate::routes::quoted(&b)
        ))),
        (Some(id), _) | (None, Some(id)) => Ok(Some(id)),
        (None, None) => Ok(None),
    }
}
