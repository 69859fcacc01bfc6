//! `GET` and `POST /_devreg/clock`: the server's clock, which an ephemeral server lets a
//! test move forward instead of sleeping (connectivity, token expiry, round deadlines and
//! every timestamp written read it).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Access;
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;

pub const ACCESS: Access = Access::PUBLIC;

/// How to move the clock: by a number of seconds, or to a time. Exactly one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"advance_seconds": 600})))]
struct MoveClock {
    /// Seconds to move forward, 0 to 10 years.
    #[schema(minimum = 0, maximum = 315_360_000)]
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    advance_seconds: Option<u64>,
    /// A time to move forward to (RFC 3339); not before the clock's present.
    now: Option<String>,
}

/// The server's clock.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({"now": "2026-02-23T16:40:00Z", "offset_seconds": 600})))]
struct ClockReading {
    /// The time as the server sees it.
    now: Timestamp,
    /// How far the clock runs ahead of wall time.
    offset_seconds: i64,
}

/// The most a single request may move the clock: ten years.
const MAX_ADVANCE_SECONDS: u64 = 315_360_000;

fn reading(state: &AppState) -> HttpResponse {
    HttpResponse::Ok().json(ClockReading {
        now: state.clock.now(),
        offset_seconds: state.clock.offset_secs(),
    })
}

/// Read the server's clock (ephemeral mode only)
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "testing",
    responses((status = 200, description = "The clock.", body = ClockReading)),
)]
pub async fn get_clock(state: web::Data<AppState>) -> HttpResponse {
    reading(&state)
}

/// Move the server's clock forward (ephemeral mode only)
///
/// Moves the clock every time-dependent rule reads, and the rate limiter's with it,
/// forward by `advance_seconds` or to `now`; never back. Then runs a connectivity sweep
/// and answers once it is done, so the `device.connectivity_changed` events (and the
/// retention trim) of the new time are already in the log.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "testing",
    request_body(content = MoveClock, description = "`advance_seconds` or `now`."),
    responses(
        (status = 200, description = "The clock after the move.", body = ClockReading),
        (status = 400, description = "Neither or both given, or a value is invalid."),
        (status = 409, description = "`now` is before the clock's present: it only moves \
            forward."),
    ),
)]
pub async fn move_clock(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: MoveClock = parse_json_object(&body)?.unwrap_or_default();
    match (request.advance_seconds, request.now) {
        (Some(secs), None) if secs <= MAX_ADVANCE_SECONDS => {
            state.clock.advance(secs);
            state
                .rate_limit_clock
                .advance(std::time::Duration::from_secs(secs));
        }
        (Some(secs), None) => {
            return Err(ApiError::BadRequest(format!(
                "advance_seconds must be at most {MAX_ADVANCE_SECONDS} (ten years), got {secs}"
            )));
        }
        (None, Some(text)) => {
            let to = Timestamp::parse_rfc3339(&text)
                .map_err(|e| ApiError::BadRequest(format!("now {e}")))?;
            let before = state.clock.now();
            // A well-formed time the clock has passed conflicts with its present: 409.
            state.clock.set(to).map_err(|now| {
                ApiError::Conflict(format!(
                    "now must not be before the clock's present {}: the clock only moves \
                     forward",
                    now.to_rfc3339()
                ))
            })?;
            let moved = u64::try_from(to.0 - before.0).unwrap_or(0);
            state
                .rate_limit_clock
                .advance(std::time::Duration::from_secs(moved));
        }
        _ => {
            return Err(ApiError::BadRequest(
                "send exactly one of advance_seconds (seconds to move forward) and now (an \
                 RFC 3339 time to move forward to)"
                    .to_owned(),
            ));
        }
    }
    // What the new time makes of the fleet is in the event log before the answer, so a
    // test reads it without waiting.
    state.sweeper.sweep_now().await?;
    Ok(reading(&state))
}
