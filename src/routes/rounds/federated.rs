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

use crate::store::Conn;
use actix_web::HttpRequest;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Credential;
use crate::domain::{KeyKind, Timestamp};
use crate::error::ApiError;
use crate::routes::device_not_found;
use crate::routes::rounds::{own_device, round_not_found, targets};
use crate::state::AppState;
use crate::store::devices::{self, Device};
use crate::store::federation;
use crate::store::rounds::{self, Round};

/// Completes the org's rounds whose deadline has passed, so whatever reads a round next
/// sees it completed: a read first, and a write only when one is due.
pub async fn settle_due(state: &AppState, org_id: &str) -> Result<(), ApiError> {
    let now = state.clock.now();
    let org = org_id.to_owned();
    let due = state
        .db
        .read(move |conn| federation::any_due(conn, &org, now))
        .await?;
    if due {
        let org = org_id.to_owned();
        state
            .db
            .write(move |tx| federation::complete_due(tx, &org, now))
            .await?;
    }
    Ok(())
}

/// The device a federation request is about: a device key's own (a `named` device that is
/// not it is a 404), or the device the secret key names (required).
pub fn device_of(
    conn: &Conn,
    credential: &Credential,
    named: Option<&str>,
) -> Result<Device, ApiError> {
    match credential.kind {
        KeyKind::Device => {
            let device = own_device(conn, credential)?;
            match named {
                Some(named) if named != device.id && named != device.identifier.as_str() => {
                    Err(device_not_found(named))
                }
                _ => Ok(device),
            }
        }
        _ => {
            let named = named.ok_or_else(|| {
                ApiError::BadRequest(
                    "device_id is required with the org's secret key: the device (its \
                     identifier or its id) the request is for"
                        .to_owned(),
                )
            })?;
            devices::find(conn, credential.org_id.as_str(), named)?
                .ok_or_else(|| device_not_found(named))
        }
    }
}

/// The round `reference` names that `device` may take part in: a 404 for another org's,
/// none, or one aimed at other platforms.
pub fn round_for(conn: &Conn, device: &Device, reference: &str) -> Result<Round, ApiError> {
    rounds::find(conn, device.org_id.as_str(), reference)?
        .filter(|round| targets(round, &device.platform))
        .ok_or_else(|| round_not_found(reference))
}

/// The round `reference` names that the caller may see: with a device key, only the
/// rounds its device may take part in.
pub fn visible_round(
    conn: &Conn,
    credential: &Credential,
    reference: &str,
) -> Result<Round, ApiError> {
    if credential.kind == KeyKind::Device {
        let device = own_device(conn, credential)?;
        return round_for(conn, &device, reference);
    }
    rounds::find(conn, credential.org_id.as_str(), reference)?
        .ok_or_else(|| round_not_found(reference))
}

/// The 409 for a round that takes no more participation.
pub fn round_ended(round: &Round, doing: &str) -> ApiError {
    ApiError::Conflict(format!(
        "training round {} is {}; only an active round can be {doing}",
        round.number,
        round.status.as_str()
    ))
}

/// Whether `round`'s deadline has passed at `now` (it is over, even if nothing marked it
/// yet).
pub fn past_deadline(round: &Round, now: Timestamp) -> bool {
    round.deadline_at.is_some_and(|d| d <= now)
}

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

/// The offers for the device a request names: its org's active rounds for its platform,
/// before their deadline, that have no update of it yet (none for an inactive device).
pub async fn offers_for(
    state: &AppState,
    credential: Credential,
    named: Option<String>,
) -> Result<Vec<Offer>, ApiError> {
    settle_due(state, credential.org_id.as_str()).await?;
    let now = state.clock.now();
    state
        .db
        .read(move |conn| {
            let device = device_of(conn, &credential, named.as_deref())?;
            if device.status != crate::domain::DeviceStatus::Active {
                return Ok(Vec::new());
            }
            let offers = federation::offers(
                conn,
                device.org_id.as_str(),
                &device.id,
                device.platform.as_str(),
                now,
            )?;
            Ok(offers
                .into_iter()
                .map(|(round, joined)| Offer::of(round, joined))
                .collect())
        })
        .await
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
