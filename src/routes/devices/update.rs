//! `PATCH /api/v1/devices/{device_id}`

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::DeviceDetail;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{DeviceStatus, JsonObject, Labels, json_kind};
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::AppState;
use crate::store::devices;

pub const ACCESS: Access = Access {
    action: "changing a device",
    allows: &[Allow::Secret],
    target: Target::PathDevice,
};

/// What to change; every field is optional. Unknown fields, and server-owned ones (`id`,
/// `org_id`, `api_key`, `created_at`, ...), are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({
    "labels": {"ring": "canary"},
    "labels_merge": true,
    "metadata": {"owner": "ops", "old_field": null},
    "status": "inactive"
})))]
struct UpdateRequest {
    /// The device's labels: replaces them all, or with `labels_merge` sets the members
    /// given (a `null` member removes that label).
    #[schema(schema_with = crate::schema::labels_patch_schema)]
    labels: Option<Value>,
    /// Merge `labels` into the device's labels instead of replacing them. Default false.
    #[serde(default)]
    labels_merge: bool,
    /// Merged into the device's metadata; a `null` member deletes it.
    metadata: Option<JsonObject>,
    status: Option<DeviceStatus>,
}

/// Change a device
///
/// Changes a device's `labels` (replaced, or merged with `labels_merge: true`),
/// `metadata` (merged; `null` deletes a member) and `status`. Writes `device.updated`
/// naming what changed (and `device.status_changed`); a change to nothing writes nothing.
#[utoipa::path(patch, path = crate::routes::FROM_TABLE, tag = "devices",
    params(("device_id" = String, Path, min_length = 1,
        description = "The device's identifier or its UUID `id`.", example = "laptop-001")),
    request_body(content = Option<UpdateRequest>, description = "What to change."),
    responses(
        (status = 200, description = "The device after the change.", body = DeviceDetail),
    ),
)]
pub async fn update_device(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, Some(path.into_inner()))?;
    let request: UpdateRequest = parse_json_object(&body)?.unwrap_or_default();
    let update = request.into_update()?;
    let now = state.clock.now();
    let detail = state
        .db
        .write(move |tx| devices::update(tx, &acting, &update, now))
        .await?;
    Ok(HttpResponse::Ok().json(DeviceDetail::new(&detail, &state)))
}

impl UpdateRequest {
    /// The change the request asks for. Its labels are checked here, so a bad label is a
    /// 400 whether or not the device exists; merging checks the count again against the
    /// device's labels.
    fn into_update(self) -> Result<devices::DeviceUpdate, ApiError> {
        let labels = match self.labels {
            None => None,
            Some(Value::Object(map)) => {
                if !self.labels_merge {
                    Labels::parse(&Value::Object(map.clone())).map_err(ApiError::BadRequest)?;
                } else {
                    Labels::default()
                        .apply(&map, true)
                        .map_err(ApiError::BadRequest)?;
                }
                Some(map)
            }
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "labels must be an object of string values, got {}",
                    json_kind(&other)
                )));
            }
        };
        Ok(devices::DeviceUpdate {
            labels,
            merge_labels: self.labels_merge,
            metadata_patch_json: self.metadata.map(|m| Value::Object(m.0).to_string()),
            status: self.status,
        })
    }
}
