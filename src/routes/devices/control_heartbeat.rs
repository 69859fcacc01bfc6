//! `POST /api/v1/control/heartbeat`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::devices;

pub const ACCESS: Access = Access {
    action: "sending a control heartbeat",
    allows: &[Allow::Device, Allow::Secret, Allow::Publishable],
    target: Target::OwnDevice,
};

/// iOS `HeartbeatAck`: requires `ack`.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"ack": true, "server_time": "2026-11-25T20:57:33Z"})))]
struct ControlHeartbeatAck {
    /// Always true.
    ack: bool,
    server_time: Timestamp,
}

/// Send a control heartbeat (iOS)
///
/// iOS `ControlSync.heartbeat()`, body `{}`: with a device key, the device's
/// `last_heartbeat` moves to now (its status and metrics stay as they are); with an org
/// key, which stands for no device, it is only acknowledged.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "device state",
    request_body(content = Option<Object>, description = "Ignored; iOS sends `{}`."),
    responses((status = 200, description = "Acknowledged.", body = ControlHeartbeatAck)),
)]
pub async fn record_control_heartbeat(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, None)?;
    let _: Option<serde_json::Map<String, serde_json::Value>> = parse_json_object(&body)?;
    let now = state.clock.now();
    // An org key stands for no device: only acknowledged, without a trip to the writer.
    if acting.credential.own_device().is_some() {
        state
            .db
            .write(move |tx| devices::touch(tx, &acting, now))
            .await?;
    }
    Ok(HttpResponse::Ok().json(ControlHeartbeatAck {
        ack: true,
        server_time: now,
    }))
}
