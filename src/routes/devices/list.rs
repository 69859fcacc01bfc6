//! `GET /api/v1/devices`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{
    Connectivity, ConnectivityRule, DeviceIdentifier, DeviceStatus, LabelFilter, Limit, Offset,
    OrgId, Platform, RawLabels, Timestamp,
};
use crate::error::ApiError;
use crate::routes::{parse_query, same_org};
use crate::schema;
use crate::state::AppState;
use crate::store::devices;

pub const ACCESS: Access = Access {
    action: "listing devices",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// The list query as sent: text, so a bad value's error can quote it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// The org whose devices to list: the key's org (another org's is a 403).
    #[param(required = true, min_length = 1, example = "org_demo")]
    org_id: Option<String>,
    /// Only devices of this platform.
    #[param(value_type = Platform, required = false)]
    platform: Option<String>,
    /// Only devices with this status.
    #[param(value_type = DeviceStatus, required = false)]
    status: Option<String>,
    /// Most devices to return.
    #[param(schema_with = schema::limit_schema, required = false)]
    limit: Option<String>,
    /// Devices to skip.
    #[param(schema_with = schema::offset_schema, required = false)]
    offset: Option<String>,
    /// Keyset pagination: the `id` of the last device of the previous page; the page
    /// starts after it (and `offset` counts from there).
    #[param(format = Uuid, required = false)]
    after: Option<String>,
    /// Only devices with this label: `KEY:VALUE` (that value) or `KEY` (any value).
    /// Repeat for more; all must hold.
    #[param(required = false, example = "env:prod")]
    #[serde(skip)]
    label: Vec<String>,
    /// Only devices with this connectivity.
    #[param(value_type = Connectivity, required = false)]
    connectivity: Option<String>,
    /// Only devices whose last heartbeat is before this time (RFC 3339).
    #[param(value_type = Timestamp, required = false)]
    last_seen_before: Option<String>,
    /// Only devices whose last heartbeat is after this time (RFC 3339).
    #[param(value_type = Timestamp, required = false)]
    last_seen_after: Option<String>,
    /// Only devices whose identifier starts with this text.
    #[param(required = false, example = "laptop-")]
    q: Option<String>,
}

struct ListFilter {
    org_id: String,
    platform: Option<Platform>,
    status: Option<DeviceStatus>,
    labels: Vec<LabelFilter>,
    connectivity: Option<Connectivity>,
    last_seen_before: Option<Timestamp>,
    last_seen_after: Option<Timestamp>,
    q: Option<String>,
    limit: Limit,
    offset: Offset,
    /// A device id, hyphenated.
    after: Option<String>,
}

impl ListFilter {
    /// The store's query for this filter, connectivity by `rule` at `now`.
    fn query(&self, rule: ConnectivityRule, now: Timestamp) -> devices::ListQuery<'_> {
        devices::ListQuery {
            org_id: &self.org_id,
            platform: self.platform.as_ref(),
            status: self.status,
            labels: &self.labels,
            connectivity: self.connectivity,
            last_seen_before: self.last_seen_before,
            last_seen_after: self.last_seen_after,
            prefix: self.q.as_deref(),
            rule,
            now,
            limit: self.limit.get(),
            offset: self.offset.get(),
            after: self.after.as_deref(),
        }
    }
}

impl TryFrom<ListParams> for ListFilter {
    type Error = ApiError;

    fn try_from(params: ListParams) -> Result<Self, ApiError> {
        let bad = ApiError::BadRequest;
        let org_id = params.org_id.filter(|o| !o.is_empty()).ok_or_else(|| {
            bad(
                "org_id is required: the organization whose devices to list, such as org_demo"
                    .to_owned(),
            )
        })?;
        let platform = params
            .platform
            .map(Platform::try_from)
            .transpose()
            .map_err(|e| bad(format!("platform {e}")))?;
        let status = params
            .status
            .map(DeviceStatus::try_from)
            .transpose()
            .map_err(|e| bad(format!("status {e}")))?;
        let labels = params
            .label
            .iter()
            .map(|l| LabelFilter::parse(l).map_err(bad))
            .collect::<Result<Vec<_>, _>>()?;
        let connectivity = params
            .connectivity
            .map(Connectivity::try_from)
            .transpose()
            .map_err(|e| bad(format!("connectivity {e}")))?;
        let time = |name: &str, text: Option<String>| {
            text.map(|t| Timestamp::parse_rfc3339(&t).map_err(|e| bad(format!("{name} {e}"))))
                .transpose()
        };
        Ok(ListFilter {
            org_id,
            platform,
            status,
            labels,
            connectivity,
            last_seen_before: time("last_seen_before", params.last_seen_before)?,
            last_seen_after: time("last_seen_after", params.last_seen_after)?,
            q: params.q.filter(|q| !q.is_empty()),
            limit: Limit::parse(params.limit.as_deref()).map_err(bad)?,
            offset: Offset::parse(params.offset.as_deref()).map_err(bad)?,
            after: params
                .after
                .map(|after| {
                    uuid::Uuid::try_parse(&after)
                        .map(|id| id.hyphenated().to_string())
                        .map_err(|_| {
                            bad(format!(
                                "after {} is not a device id: give the id (a UUID) of the \
                                 last device of the previous page",
                                crate::routes::quoted(&after)
                            ))
                        })
                })
                .transpose()?,
        })
    }
}

/// A page of an org's devices, in registration order.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "devices": [{
        "id": "01a2147f-daeb-7763-909c-9e315a041b31",
        "device_identifier": "iphone-001",
        "device_id": "iphone-001",
        "org_id": "org_demo",
        "platform": "ios",
        "status": "active",
        "last_seen_at": "2026-02-23T16:30:00Z",
        "connectivity": "online",
        "labels": {"env": "prod"}
    }],
    "total": 1,
    "limit": 20,
    "offset": 0
})))]
struct DeviceList {
    devices: Vec<DeviceListItem>,
    /// Every device that matches the filters, on all pages.
    total: u64,
    /// The `limit` applied.
    limit: u32,
    /// The `offset` applied.
    offset: u64,
}

/// A device as the list shows it.
#[derive(Serialize, ToSchema)]
struct DeviceListItem {
    #[schema(format = Uuid)]
    id: String,
    device_identifier: DeviceIdentifier,
    /// The same as `device_identifier`, under the reference's name.
    device_id: DeviceIdentifier,
    org_id: OrgId,
    platform: Platform,
    status: DeviceStatus,
    /// The last heartbeat; null before the first.
    last_seen_at: Option<Timestamp>,
    connectivity: Connectivity,
    labels: RawLabels,
}

impl DeviceListItem {
    fn new(d: devices::DeviceSummary, state: &AppState, now: Timestamp) -> Self {
        DeviceListItem {
            connectivity: state.connectivity.of(d.last_heartbeat, now),
            labels: RawLabels(d.labels),
            id: d.id,
            device_id: d.identifier.clone(),
            device_identifier: d.identifier,
            org_id: d.org_id,
            platform: d.platform,
            status: d.status,
            last_seen_at: d.last_heartbeat,
        }
    }
}

/// List devices
///
/// Returns an org's devices, oldest registration first (ties by `id`), with optional
/// filters (all must hold: `label` any number of times, `connectivity`, last-seen times,
/// an identifier prefix `q`). `total` counts every match. Page with `offset`, or with `after`: the `id` of
/// the last device of the previous page.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "devices", params(ListParams),
    responses(
        (status = 200, description = "A page of devices.", body = DeviceList),
        (status = 400, description = "`org_id` is missing, or a filter, `limit` or `offset` \
            is invalid."),
        (status = 403, description = "Not the org's secret key, or `org_id` is another org."),
        (status = 404, description = "`after` names no device of the org."),
    ),
)]
pub async fn list_devices(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let mut params = parse_query::<ListParams>(&req)?;
    // Repeatable, which the struct's parser cannot take.
    params.label = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("the query string could not be read: {e}")))?
        .into_iter()
        .filter(|(name, _)| name == "label")
        .map(|(_, value)| value)
        .collect();
    let filter = ListFilter::try_from(params)?;
    same_org(&credential, Some(&filter.org_id), "list the devices of")?;

    let (limit, offset) = (filter.limit.get(), filter.offset.get());
    let (rule, now) = (state.connectivity, state.clock.now());
    let (devices, total) = state
        .db
        .read(move |conn| devices::list(conn, &filter.query(rule, now)))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(
                "after names no device of this org: give the id of the last device of the \
                 previous page"
                    .to_owned(),
            )
        })?;
    Ok(HttpResponse::Ok().json(DeviceList {
        devices: devices
            .into_iter()
            .map(|d| DeviceListItem::new(d, &state, now))
            .collect(),
        total,
        limit,
        offset,
    }))
}
