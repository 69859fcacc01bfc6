//! `POST /api/v1/devices/heartbeat`

use actix_web::{HttpResponse, web};

use crate::auth::{Access, Allow, Presented, Target};
use crate::error::ApiError;
use crate::routes::devices::heartbeat as by_path;
use crate::state::AppState;

pub const ACCESS: Access = Access {
    action: "sending a heartbeat",
    allows: &[Allow::Device, Allow::Publishable, Allow::Secret],
    target: Target::BodyDevice,
};

/// Send a heartbeat without a device in the path
///
/// The Node SDK's `configure()` heartbeat (`{device_identifier}` with the device's key).
/// The device is the body's `device_identifier` (or `device_id`, the identifier or UUID),
/// which an org key must send; a device key without one beats for its own device, and
/// with one that names another device is a 404. Otherwise it is the heartbeat of
/// `/api/v1/devices/{device_id}/heartbeat`: the same body, the same answer.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "device state",
    request_body(content = Option<Object>, description = "A heartbeat with `device_identifier`."),
    responses(
        (status = 200, description = "Recorded; the answer of the heartbeat by path."),
    ),
)]
pub async fn record_heartbeat_by_key(
    state: web::Data<AppState>,
    key: Presented,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    by_path::record(&ACCESS, state, key, None, body).await
}
