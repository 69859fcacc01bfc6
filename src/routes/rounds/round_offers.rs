//! `GET /api/v1/federation/rounds/offers` (the generated contract's)

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::federated::{Offer, offers_for};
use super::offers::OffersParams;
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::state::AppState;

pub const ACCESS: Access = Access {
    action: "listing federated round offers",
    allows: &[Allow::Device, Allow::Secret],
    target: Target::BodyDevice,
};

/// The offers, in an object (Node's typed answer is a record).
#[derive(Serialize, ToSchema)]
struct OfferList {
    offers: Vec<Offer>,
}

/// List a device's round offers
///
/// The same offers as `GET /api/v1/federation/offers`, as `{"offers": [...]}`: the
/// generated contract's `federation.offers` (`?deviceId=`).
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("device_id" = Option<String>, Query, example = "laptop-001", description = "The \
            device (its `id` or identifier). Required with the secret key; a device key's own \
            device otherwise, and another device is a 404."),
        ("deviceId" = Option<String>, Query,
            description = "The same, as the generated contract names it.")),
    responses(
        (status = 200, description = "The offers.", body = OfferList),
        (status = 400, description = "The secret key named no device."),
        (status = 404, description = "No such device that the key can see."),
    ),
)]
pub async fn list_round_offers(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let named = parse_query::<OffersParams>(&req)?.device()?;
    let offers = offers_for(&state, Acting { credential, named }).await?;
    Ok(HttpResponse::Ok().json(OfferList { offers }))
}
