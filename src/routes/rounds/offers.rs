//! `GET /api/v1/federation/offers` (the Python device agent's)

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::federated::{Offer, either_name, offers_for};
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::AppState;

pub const ACCESS: Access = Access {
    action: "listing federated round offers",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::BodyDevice,
};

/// The query of both offer lists: the device, required with the secret key only, so both
/// names are optional in the document (a device's own key names its device).
#[derive(Debug, Default, Deserialize)]
pub(super) struct OffersParams {
    /// The device (its `id` or identifier). Required with the secret key; a device key's
    /// own device otherwise, and another device is a 404.
    device_id: Option<String>,
    /// The same, as the generated contract names it.
    #[serde(rename = "deviceId")]
    device_id_camel: Option<String>,
}

impl OffersParams {
    pub(super) fn device(self) -> Result<Option<String>, ApiError> {
        either_name(self.device_id, self.device_id_camel)
    }
}

/// List a device's round offers (device agent)
///
/// The rounds a device may take part in now, oldest first, as a JSON **list** (what
/// `DeviceFederatedClient.check_offers` needs): its org's active rounds aimed at its
/// platform, before their deadline, that have no update from it yet. Each offer carries
/// the `plan_id` to fetch. An inactive device is offered nothing.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("device_id" = Option<String>, Query, example = "laptop-001", description = "The device \
            (its `id` or identifier). Required with the secret key; a device key's own device \
            otherwise, and another device is a 404."),
        ("deviceId" = Option<String>, Query,
            description = "The same, as the generated contract names it.")),
    responses(
        (status = 200, description = "The offers.", body = Vec<Offer>),
        (status = 400, description = "The secret key named no device."),
        (status = 404, description = "No such device that the key can see."),
    ),
)]
pub async fn list_offers(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let named = parse_query::<OffersParams>(&req)?.device()?;
    let offers = offers_for(&state, Acting { credential, named }).await?;
    Ok(HttpResponse::Ok().json(offers))
}
