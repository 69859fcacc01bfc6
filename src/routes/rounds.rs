//! Training rounds: an org starts a round, its devices learn of it from their heartbeat
//! (or by polling the list), join it, and the org completes or cancels it.
//!
//! Who may do what: the org's secret key manages rounds and sees all of them; a device key
//! sees and joins only the rounds its device may take part in (its org's, aimed at its
//! platform or at every platform), and any other round is a 404 to it; a publishable key
//! has no business here (403).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::parse_json_object;
use crate::app::AppState;
use crate::auth::{Caller, Credential};
use crate::domain::{
    DeviceIdentifier, KeyKind, Limit, MinDevices, ModelId, Offset, OrgId, Platform, RoundStatus,
    TargetPlatforms, Timestamp, now,
};
use crate::error::{ApiError, ErrorBody};
use crate::openapi;
use crate::store::{devices, rounds};

/// A training round as every endpoint shows it.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "org_id": "org_demo",
    "number": 18,
    "model_id": "keyboard-next-word-v3",
    "platforms": ["ios", "android"],
    "min_devices": 10,
    "status": "active",
    "participant_count": 0,
    "created_at": "2026-02-23T16:30:00Z",
    "updated_at": "2026-02-23T16:30:00Z",
    "ended_at": null
})))]
struct RoundBody {
    #[schema(format = Uuid)]
    id: String,
    #[schema(value_type = OrgId)]
    org_id: String,
    /// 1, 2, 3, … within the org; usable in paths instead of `id`.
    #[schema(minimum = 1)]
    number: i64,
    #[schema(value_type = Option<ModelId>)]
    model_id: Option<String>,
    /// The platforms the round wants; empty means every platform.
    #[schema(value_type = Vec<Platform>)]
    platforms: Vec<String>,
    #[schema(value_type = Option<MinDevices>)]
    min_devices: Option<u32>,
    #[schema(value_type = RoundStatus)]
    status: &'static str,
    /// Devices that joined.
    participant_count: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// When it was completed or cancelled; null while active.
    ended_at: Option<Timestamp>,
}

impl From<rounds::Round> for RoundBody {
    fn from(round: rounds::Round) -> Self {
        RoundBody {
            id: round.id,
            org_id: round.org_id,
            number: round.number,
            model_id: round.model_id,
            platforms: round.platforms,
            min_devices: round.min_devices,
            status: round.status.as_str(),
            participant_count: round.participant_count,
            created_at: round.created_at,
            updated_at: round.updated_at,
            ended_at: round.ended_at,
        }
    }
}

/// 403 unless the caller holds the org's secret key.
fn require_secret(credential: &Credential, action: &str) -> Result<(), ApiError> {
    if credential.kind == KeyKind::Secret {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{action} needs the org's secret key; a {} key cannot",
            credential.kind.as_str()
        )))
    }
}

/// 403 for a publishable key, which neither manages nor joins rounds.
fn refuse_publishable(credential: &Credential, action: &str) -> Result<(), ApiError> {
    if credential.kind == KeyKind::Publishable {
        return Err(ApiError::Forbidden(format!(
            "{action} needs the org's secret key or the device's own key; a publishable key \
             cannot"
        )));
    }
    Ok(())
}

/// The 404 for a round the caller cannot see, whether it exists elsewhere or not at all.
fn round_not_found(reference: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no training round {reference:?} that this key can see"
    ))
}

fn device_not_found(reference: &str) -> ApiError {
    ApiError::NotFound(format!("no device {reference:?} in this key's org"))
}

/// Whether `round` is aimed at devices of `platform`.
fn targets(round: &rounds::Round, platform: &str) -> bool {
    round.platforms.is_empty() || round.platforms.iter().any(|p| p == platform)
}

/// The device whose key made the request, read on `conn`. A device key whose device is
/// gone is as good as unknown.
fn own_device(
    conn: &rusqlite::Connection,
    credential: &Credential,
) -> Result<Result<devices::Device, ApiError>, crate::store::StoreError> {
    let id = credential.device_id.as_deref().unwrap_or_default();
    Ok(devices::find(conn, &credential.org_id, id)?
        .ok_or_else(|| ApiError::Unauthorized("the API key's device no longer exists".into())))
}

// ---------------------------------------------------------------------------------------
// Start

/// A round to start; every field is optional and the body may be empty. Unknown fields are
/// ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({
    "model_id": "keyboard-next-word-v3",
    "platforms": ["ios", "android"],
    "min_devices": 10
})))]
struct StartRequest {
    model_id: Option<ModelId>,
    /// Absent or empty: every platform.
    platforms: Option<TargetPlatforms>,
    min_devices: Option<MinDevices>,
    /// The key's org, if given (another org's is a 403).
    org_id: Option<String>,
}

/// `POST /api/v1/training/rounds`
#[utoipa::path(
    post,
    path = "/api/v1/training/rounds",
    tag = "training rounds",
    summary = "Start a training round",
    description = "Starts an active round in the key's org. While it is active, heartbeats of \
        the active devices it targets name it in `pending_round_id`.\n\n\
        Credentials: the org's secret key.",
    request_body(content = Option<StartRequest>, description = "Optional."),
    responses(
        (status = 201, description = "Started; `Location` is the round's URL.", body = RoundBody,
            headers(("Location" = String, description = "`/api/v1/training/rounds/{id}`")),
            links(
                ("RetrieveRound" = (operation_id = "get_round",
                    parameters(("round_id" = "$response.body#/id")),
                    description = "Retrieve the round just started.")),
                ("CompleteRound" = (operation_id = "complete_round",
                    parameters(("round_id" = "$response.body#/id")),
                    description = "Complete it.")),
                ("CancelRound" = (operation_id = "cancel_round",
                    parameters(("round_id" = "$response.body#/id")),
                    description = "Cancel it."))
            )),
        (status = 400, description = "The body is not a JSON object, or a field is invalid.",
            body = ErrorBody),
        (status = 401, description = "No key, or a malformed, unknown or revoked one.",
            body = ErrorBody),
        (status = 403, description = "Not the org's secret key, or `org_id` is another org.",
            body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 503, description = "The database is busy or full; retry later.",
            body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["secret"]))),
)]
pub async fn start_round(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = caller.require()?;
    require_secret(&credential, "starting a training round")?;
    let request: StartRequest = parse_json_object(&body)?.unwrap_or_default();
    if let Some(org_id) = request
        .org_id
        .as_deref()
        .filter(|o| *o != credential.org_id)
    {
        return Err(ApiError::Forbidden(format!(
            "this key belongs to org {}; it cannot start rounds in org {org_id}",
            credential.org_id
        )));
    }

    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let platforms_json = request.platforms.unwrap_or_default().to_json();
    let round = state
        .db
        .write(move |tx| {
            rounds::insert(
                tx,
                &rounds::NewRound {
                    id: &id,
                    org_id: &credential.org_id,
                    model_id: request.model_id.as_ref().map(ModelId::as_str),
                    platforms_json: &platforms_json,
                    min_devices: request.min_devices.map(MinDevices::get),
                    now: now(),
                },
            )
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/training/rounds/{}", round.id),
        ))
        .json(RoundBody::from(round)))
}

// ---------------------------------------------------------------------------------------
// List

/// The list query as sent: text, so a bad value's error can quote it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// The key's org, if given (another org's is a 403).
    #[param(value_type = String, required = false, example = "org_demo")]
    org_id: Option<String>,
    /// Only rounds with this status.
    #[param(value_type = RoundStatus, required = false)]
    status: Option<String>,
    /// Only the rounds this device (identifier or `id`) may join. With a device key, its
    /// own device.
    #[param(value_type = String, required = false, example = "laptop-001")]
    device_id: Option<String>,
    /// Most rounds to return.
    #[param(schema_with = openapi::limit_schema, required = false)]
    limit: Option<String>,
    /// Rounds to skip.
    #[param(schema_with = openapi::offset_schema, required = false)]
    offset: Option<String>,
}

struct ListFilter {
    org_id: Option<String>,
    status: Option<RoundStatus>,
    device_id: Option<String>,
    limit: Limit,
    offset: Offset,
}

impl TryFrom<ListParams> for ListFilter {
    type Error = ApiError;

    fn try_from(params: ListParams) -> Result<Self, ApiError> {
        let bad = ApiError::BadRequest;
        let status = params
            .status
            .map(RoundStatus::try_from)
            .transpose()
            .map_err(|e| bad(format!("status {e}")))?;
        Ok(ListFilter {
            org_id: params.org_id.filter(|o| !o.is_empty()),
            status,
            device_id: params.device_id.filter(|d| !d.is_empty()),
            limit: Limit::parse(params.limit.as_deref()).map_err(bad)?,
            offset: Offset::parse(params.offset.as_deref()).map_err(bad)?,
        })
    }
}

/// A page of rounds, oldest first.
#[derive(Serialize, ToSchema)]
struct RoundList {
    rounds: Vec<RoundBody>,
    /// Every round that matches, on all pages.
    total: u64,
    /// The `limit` applied.
    limit: u32,
    /// The `offset` applied.
    offset: u64,
}

/// `GET /api/v1/training/rounds`: with the secret key, the org's rounds (only those a
/// device may join when `device_id` names one); with a device key, the rounds its device
/// may join.
#[utoipa::path(
    get,
    path = "/api/v1/training/rounds",
    tag = "training rounds",
    summary = "List training rounds",
    description = "The org's rounds, oldest first. With a device key, only the rounds its \
        device may join (its org's, aimed at its platform or at every platform): what the SDKs \
        poll with `?device_id=…&status=active`.\n\n\
        Credentials: the org's secret key, or a device key.",
    params(ListParams),
    responses(
        (status = 200, description = "A page of rounds.", body = RoundList),
        (status = 400, description = "`status`, `limit` or `offset` is invalid.",
            body = ErrorBody),
        (status = 401, description = "No key, or a malformed, unknown or revoked one; or a \
            device key whose device is gone.", body = ErrorBody),
        (status = 403, description = "A publishable key, or `org_id` is another org.",
            body = ErrorBody),
        (status = 404, description = "`device_id` names no device the key can see.",
            body = ErrorBody),
        (status = 503, description = "The database is busy; retry later.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["secret", "device"]))),
)]
pub async fn list_rounds(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = caller.require()?;
    refuse_publishable(&credential, "listing training rounds")?;
    let params: ListParams = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("the query string could not be read: {e}")))?;
    let filter = ListFilter::try_from(params)?;
    if let Some(org_id) = filter.org_id.as_deref().filter(|o| *o != credential.org_id) {
        return Err(ApiError::Forbidden(format!(
            "this key belongs to org {}; it cannot list the rounds of org {org_id}",
            credential.org_id
        )));
    }

    let (limit, offset) = (filter.limit.get(), filter.offset.get());
    let (rounds, total) = state
        .db
        .read(move |conn| {
            // The platform whose rounds to show: none for the org's secret key alone.
            let device = match (&credential.kind, &filter.device_id) {
                (KeyKind::Device, reference) => {
                    let device = match own_device(conn, &credential)? {
                        Ok(device) => device,
                        Err(e) => return Ok(Err(e)),
                    };
                    if let Some(reference) = reference
                        && *reference != device.id
                        && *reference != device.identifier
                    {
                        return Ok(Err(device_not_found(reference)));
                    }
                    Some(device)
                }
                (_, Some(reference)) => match devices::find(conn, &credential.org_id, reference)? {
                    Some(device) => Some(device),
                    None => return Ok(Err(device_not_found(reference))),
                },
                (_, None) => None,
            };
            rounds::list(
                conn,
                &rounds::ListQuery {
                    org_id: &credential.org_id,
                    status: filter.status,
                    platform: device.as_ref().map(|d| d.platform.as_str()),
                    limit,
                    offset,
                },
            )
            .map(Ok)
        })
        .await??;
    Ok(HttpResponse::Ok().json(RoundList {
        rounds: rounds.into_iter().map(RoundBody::from).collect(),
        total,
        limit,
        offset,
    }))
}

// ---------------------------------------------------------------------------------------
// Retrieve

/// `GET /api/v1/training/rounds/{round_id}`: `round_id` is the UUID or the org's number.
#[utoipa::path(
    get,
    path = "/api/v1/training/rounds/{round_id}",
    tag = "training rounds",
    summary = "Retrieve a training round",
    description = "A round of the key's org, by its `id` or its `number`. A device key sees \
        only the rounds its device may join.\n\n\
        Credentials: the org's secret key, or a device key.",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    responses(
        (status = 200, description = "The round.", body = RoundBody,
            links(
                ("CompleteRound" = (operation_id = "complete_round",
                    parameters(("round_id" = "$response.body#/id")),
                    description = "Complete it.")),
                ("CancelRound" = (operation_id = "cancel_round",
                    parameters(("round_id" = "$response.body#/id")),
                    description = "Cancel it."))
            )),
        (status = 401, description = "No key, or a malformed, unknown or revoked one.",
            body = ErrorBody),
        (status = 403, description = "A publishable key.", body = ErrorBody),
        (status = 404, description = "No such round that the key can see.", body = ErrorBody),
        (status = 503, description = "The database is busy; retry later.", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["secret", "device"]))),
)]
pub async fn get_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let credential = caller.require()?;
    refuse_publishable(&credential, "reading a training round")?;
    let reference = path.into_inner();
    let lookup = reference.clone();
    let round = state
        .db
        .read(move |conn| {
            let Some(round) = rounds::find(conn, &credential.org_id, &lookup)? else {
                return Ok(None);
            };
            if credential.kind == KeyKind::Device {
                match own_device(conn, &credential)? {
                    Ok(device) if targets(&round, &device.platform) => {}
                    _ => return Ok(None),
                }
            }
            Ok(Some(round))
        })
        .await?
        .ok_or_else(|| round_not_found(&reference))?;
    Ok(HttpResponse::Ok().json(RoundBody::from(round)))
}

// ---------------------------------------------------------------------------------------
// Join

/// The device that joins. Required with the org's secret key; a device key joins its own
/// device and may send an empty body. When both names are sent they must be equal.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({"device_id": "laptop-001"})))]
struct JoinRequest {
    /// The device's identifier or its `id`.
    device_id: Option<DeviceIdentifier>,
    /// The same, under the SDKs' name.
    device_identifier: Option<DeviceIdentifier>,
}

/// A device's part in a round.
#[derive(Serialize, ToSchema)]
struct Participation {
    #[schema(format = Uuid)]
    round_id: String,
    #[schema(minimum = 1)]
    round_number: i64,
    /// The device's server UUID, as in the heartbeat's path.
    #[schema(format = Uuid)]
    id: String,
    #[schema(value_type = DeviceIdentifier)]
    device_id: String,
    #[schema(value_type = DeviceIdentifier)]
    device_identifier: String,
    /// When the device first joined.
    joined_at: Timestamp,
    round: RoundBody,
}

/// `POST /api/v1/training/rounds/{round_id}/join`: the device's own key, or the secret key
/// with the device named in the body. Joining again changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/training/rounds/{round_id}/join",
    tag = "training rounds",
    summary = "Join a training round",
    description = "Records that a device takes part in an active round. Joining again \
        changes nothing; joining a completed or cancelled round is a 409.\n\n\
        Credentials: the device's own key, or the org's secret key with the device named in \
        the body.",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    request_body(content = JoinRequest, description = "The device that joins."),
    responses(
        (status = 200, description = "Joined.", body = Participation),
        (status = 400, description = "The body is not a JSON object, a field is invalid, or \
            the secret key named no device.", body = ErrorBody),
        (status = 401, description = "No key, or a malformed, unknown or revoked one; or a \
            device key whose device is gone.", body = ErrorBody),
        (status = 403, description = "A publishable key.", body = ErrorBody),
        (status = 404, description = "No such round or device that the key can see.",
            body = ErrorBody),
        (status = 409, description = "The round has ended, or is not for the device's \
            platform.", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 503, description = "The database is busy or full; retry later.",
            body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["device", "secret"]))),
)]
pub async fn join_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = caller.require()?;
    refuse_publishable(&credential, "joining a training round")?;
    let request: JoinRequest = parse_json_object(&body)?.unwrap_or_default();
    let named = match (request.device_id, request.device_identifier) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::BadRequest(format!(
                "device_id ({a:?}) and device_identifier ({b:?}) must agree when both are sent"
            )));
        }
        (Some(d), _) | (None, Some(d)) => Some(d),
        (None, None) => None,
    };
    if credential.kind == KeyKind::Secret && named.is_none() {
        return Err(ApiError::BadRequest(
            "device_id is required with the org's secret key: the device (its identifier or \
             its id) that joins the round"
                .to_owned(),
        ));
    }

    let reference = path.into_inner();
    let lookup = reference.clone();
    let participation = state
        .db
        .write(move |tx| {
            let device = if credential.kind == KeyKind::Device {
                let device = match own_device(tx, &credential)? {
                    Ok(device) => device,
                    Err(e) => return Ok(Err(e)),
                };
                if let Some(named) = &named
                    && named.as_str() != device.id
                    && named.as_str() != device.identifier
                {
                    return Ok(Err(device_not_found(named.as_str())));
                }
                device
            } else {
                let named = named.expect("checked above: the secret key names a device");
                match devices::find(tx, &credential.org_id, named.as_str())? {
                    Some(device) => device,
                    None => return Ok(Err(device_not_found(named.as_str()))),
                }
            };
            let round = match rounds::find(tx, &credential.org_id, &lookup)? {
                Some(round) => round,
                None => return Ok(Err(round_not_found(&lookup))),
            };
            if !targets(&round, &device.platform) {
                // A device key cannot see a round that is not for its platform.
                return Ok(Err(if credential.kind == KeyKind::Device {
                    round_not_found(&lookup)
                } else {
                    ApiError::Conflict(format!(
                        "training round {} is for {} devices; device {:?} is {}",
                        round.number,
                        round.platforms.join(", "),
                        device.identifier,
                        device.platform
                    ))
                }));
            }
            if round.status != RoundStatus::Active {
                return Ok(Err(ApiError::Conflict(format!(
                    "training round {} is {}; only an active round can be joined",
                    round.number,
                    round.status.as_str()
                ))));
            }
            let joined_at = rounds::join(tx, &round.id, &device.id, now())?;
            let round = rounds::find(tx, &credential.org_id, &round.id)?
                .expect("the round was read in this transaction");
            Ok(Ok(Participation {
                round_id: round.id.clone(),
                round_number: round.number,
                id: device.id,
                device_id: device.identifier.clone(),
                device_identifier: device.identifier,
                joined_at,
                round: round.into(),
            }))
        })
        .await??;
    Ok(HttpResponse::Ok().json(participation))
}

// ---------------------------------------------------------------------------------------
// Complete, cancel

/// `POST /api/v1/training/rounds/{round_id}/complete`
#[utoipa::path(
    post,
    path = "/api/v1/training/rounds/{round_id}/complete",
    tag = "training rounds",
    summary = "Complete a training round",
    description = "Ends an active round as `completed`. A round already ended is a 409 and stays \
        as it was. No body is read.\n\nCredentials: the org's secret key.",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    responses(
        (status = 200, description = "The round, now completed.", body = RoundBody),
        (status = 401, description = "No key, or a malformed, unknown or revoked one.",
            body = ErrorBody),
        (status = 403, description = "Not the org's secret key.", body = ErrorBody),
        (status = 404, description = "No such round in the key's org.", body = ErrorBody),
        (status = 409, description = "The round has already ended.", body = ErrorBody),
        (status = 503, description = "The database is busy or full; retry later.",
            body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["secret"]))),
)]
pub async fn complete_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    end_round(state, caller, path.into_inner(), RoundStatus::Completed).await
}

/// `POST /api/v1/training/rounds/{round_id}/cancel`
#[utoipa::path(
    post,
    path = "/api/v1/training/rounds/{round_id}/cancel",
    tag = "training rounds",
    summary = "Cancel a training round",
    description = "Ends an active round as `cancelled`. A round already ended is a 409 and stays \
        as it was. No body is read.\n\nCredentials: the org's secret key.",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    responses(
        (status = 200, description = "The round, now cancelled.", body = RoundBody),
        (status = 401, description = "No key, or a malformed, unknown or revoked one.",
            body = ErrorBody),
        (status = 403, description = "Not the org's secret key.", body = ErrorBody),
        (status = 404, description = "No such round in the key's org.", body = ErrorBody),
        (status = 409, description = "The round has already ended.", body = ErrorBody),
        (status = 503, description = "The database is busy or full; retry later.",
            body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = [])),
    extensions(("x-credential-kinds" = json!(["secret"]))),
)]
pub async fn cancel_round(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    end_round(state, caller, path.into_inner(), RoundStatus::Cancelled).await
}

/// Ends an active round as `status`; a round already ended is a 409 and stays as it was.
async fn end_round(
    state: web::Data<AppState>,
    caller: Caller,
    reference: String,
    status: RoundStatus,
) -> Result<HttpResponse, ApiError> {
    let credential = caller.require()?;
    let action = match status {
        RoundStatus::Cancelled => "cancelling a training round",
        _ => "completing a training round",
    };
    require_secret(&credential, action)?;
    let lookup = reference.clone();
    let round = state
        .db
        .write(move |tx| {
            let Some(round) = rounds::find(tx, &credential.org_id, &lookup)? else {
                return Ok(Err(round_not_found(&lookup)));
            };
            Ok(match rounds::finish(tx, &round.id, status, now())? {
                Some(ended) => Ok(ended),
                None => Err(ApiError::Conflict(format!(
                    "training round {} is already {}; only an active round can be {}",
                    round.number,
                    round.status.as_str(),
                    status.as_str()
                ))),
            })
        })
        .await??;
    Ok(HttpResponse::Ok().json(RoundBody::from(round)))
}
