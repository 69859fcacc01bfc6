//! A training round in the shape iOS's and Android's `RoundAssignment` decode
//! (octomil-ios APIModels+Server.swift:191-256; Android's `RoundAssignment` DTO): what
//! `GET /api/v1/training/rounds` and `/{round_id}` answer those SDKs, as a bare array and
//! an object. They are told apart by what they send: iOS's `User-Agent: octomil-ios/…`
//! (Client/APIClient.swift:279), Android's `X-Org-Id` header, or `?shape=assignment`.

use actix_web::HttpRequest;
use actix_web::http::header;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{OrgId, RoundStatus, Timestamp};
use crate::store::round_assignments::Counted;

/// The most devices a round may want (`min_devices`' bound): `max_clients`, since devreg
/// admits every targeted device that joins.
const MAX_CLIENTS: u32 = 1_000_000;

/// Whether the request is from an SDK that decodes [`RoundAssignment`]s.
pub fn wanted(req: &HttpRequest) -> bool {
    let headers = req.headers();
    let ios = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("octomil-ios/"));
    ios || headers.contains_key("x-org-id") || req.query_string().contains("shape=assignment")
}

/// Every member iOS requires (all but the three optionals) and Android reads.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "0190f5a0-0000-7000-8000-0000000000a1", "org_id": "org_demo",
    "model_id": "kbd-next-word", "version_id": "1.0.0", "state": "waiting_for_updates",
    "min_clients": 3, "max_clients": 1000000, "client_selection_strategy": "open",
    "aggregation_type": "fedavg", "timeout_minutes": 60, "differential_privacy": false,
    "dp_epsilon": null, "dp_delta": null, "secure_aggregation": false,
    "secagg_threshold": null, "selected_client_count": 2, "received_update_count": 1,
    "created_at": "2026-02-23T16:30:00Z",
    "client_selection_started_at": "2026-02-23T16:30:00Z", "aggregation_completed_at": null
})))]
pub struct RoundAssignment {
    id: String,
    org_id: OrgId,
    /// The round's model; empty when it names none.
    model_id: String,
    /// The base version it trains from; empty when it names none.
    version_id: String,
    /// `waiting_for_updates` while active, else `completed` or `cancelled`.
    state: &'static str,
    /// `min_devices` (1 when unset).
    min_clients: u32,
    max_clients: u32,
    /// `open`: every targeted device that joins takes part.
    client_selection_strategy: &'static str,
    aggregation_type: &'static str,
    /// Minutes from its start to its deadline; 0 without one.
    timeout_minutes: i64,
    differential_privacy: bool,
    dp_epsilon: Option<f64>,
    dp_delta: Option<f64>,
    secure_aggregation: bool,
    secagg_threshold: Option<i64>,
    /// Devices that joined.
    selected_client_count: u64,
    /// Updates received.
    received_update_count: i64,
    created_at: Timestamp,
    client_selection_started_at: Timestamp,
    aggregation_completed_at: Option<Timestamp>,
}

impl From<Counted> for RoundAssignment {
    fn from(Counted { round, updates }: Counted) -> Self {
        let state = match round.status {
            RoundStatus::Active => "waiting_for_updates",
            RoundStatus::Completed => "completed",
            RoundStatus::Cancelled => "cancelled",
        };
        let completed = matches!(round.status, RoundStatus::Completed);
        RoundAssignment {
            model_id: round.model_id.unwrap_or_default(),
            version_id: round.base_version.unwrap_or_default(),
            state,
            min_clients: round.min_devices.unwrap_or(1),
            max_clients: MAX_CLIENTS,
            client_selection_strategy: "open",
            aggregation_type: "fedavg",
            timeout_minutes: round
                .deadline_at
                .map_or(0, |d| ((d.0 - round.created_at.0).max(0) + 59) / 60),
            differential_privacy: false,
            dp_epsilon: None,
            dp_delta: None,
            secure_aggregation: false,
            secagg_threshold: None,
            selected_client_count: round.participant_count,
            received_update_count: updates,
            created_at: round.created_at,
            client_selection_started_at: round.created_at,
            aggregation_completed_at: if completed { round.ended_at } else { None },
            id: round.id,
            org_id: round.org_id,
        }
    }
}

/// iOS's `state` filter as devreg's `status`: `waiting_for_updates` is `active`.
pub fn status_of_state(state: &str) -> Option<&'static str> {
    match state {
        "waiting_for_updates" | "active" | "in_progress" | "client_selection" => Some("active"),
        "completed" | "aggregated" => Some("completed"),
        "cancelled" | "failed" => Some("cancelled"),
        _ => None,
    }
}
