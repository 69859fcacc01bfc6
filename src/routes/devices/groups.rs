//! `GET /api/v1/devices/{device_id}/groups`

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::desired_state::DEVICE_STATE;
use crate::auth::{Access, Caller, Target};
use crate::domain::Timestamp;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::device_groups::{self, LabelGroup};

pub const ACCESS: Access = Access {
    action: "reading a device's groups",
    allows: DEVICE_STATE,
    target: Target::PathDevice,
};

/// One label of the device as a group: the fields iOS (`DeviceGroup`,
/// APIModels+Device.swift:220-252) and Android (`DeviceGroup` DTO) require.
#[derive(Serialize, ToSchema)]
#[schema(examples(json!({
    "id": "label:region:eu", "name": "region:eu",
    "description": "the org's devices labelled region=eu", "group_type": "dynamic",
    "is_active": true, "device_count": 12, "tags": ["region"],
    "created_at": "2026-11-25T20:57:33Z", "updated_at": "2026-11-26T08:01:02Z",
    "label": {"key": "region", "value": "eu"}
})))]
struct DeviceGroup {
    /// `label:KEY:VALUE`: the same for every device carrying the label.
    id: String,
    /// `KEY:VALUE`, as the list filter `label=KEY:VALUE` spells it.
    name: String,
    description: String,
    /// Always `dynamic`: membership follows the device's labels.
    group_type: &'static str,
    is_active: bool,
    /// The org's devices carrying the label, this one included.
    device_count: i64,
    /// The label's key.
    tags: Vec<String>,
    /// The registration of the group's earliest-registered device.
    created_at: Timestamp,
    /// The latest change to any of its devices.
    updated_at: Timestamp,
    label: Label,
}

#[derive(Serialize, ToSchema)]
struct Label {
    key: String,
    value: String,
}

#[derive(Serialize, ToSchema)]
struct DeviceGroups {
    groups: Vec<DeviceGroup>,
    count: usize,
}

impl From<LabelGroup> for DeviceGroup {
    fn from(group: LabelGroup) -> Self {
        DeviceGroup {
            id: format!("label:{}:{}", group.key, group.value),
            name: format!("{}:{}", group.key, group.value),
            description: format!("the org's devices labelled {}={}", group.key, group.value),
            group_type: "dynamic",
            is_active: true,
            device_count: group.device_count,
            tags: vec![group.key.clone()],
            created_at: group.created_at,
            updated_at: group.updated_at,
            label: Label {
                key: group.key,
                value: group.value,
            },
        }
    }
}

/// Read a device's groups
///
/// devreg keeps no group objects: each of the device's labels is a group, the org's
/// devices carrying that label (what `label=KEY:VALUE` lists and a deployment's
/// `target.labels` selects), with how many they are. Ordered by label key; a device
/// without labels is in no group.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "device state",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's UUID `id` or its identifier.")),
    responses((status = 200, description = "The device's groups.", body = DeviceGroups)),
)]
pub async fn get_device_groups(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let groups = state
        .db
        .read(move |conn| device_groups::device_groups(conn, &acting))
        .await?;
    let groups: Vec<DeviceGroup> = groups.into_iter().map(DeviceGroup::from).collect();
    Ok(HttpResponse::Ok().json(DeviceGroups {
        count: groups.len(),
        groups,
    }))
}
