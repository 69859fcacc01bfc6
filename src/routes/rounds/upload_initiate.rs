//! `POST /api/v1/federation/rounds/{round_id}/uploads` (the Python device agent's) and
//! `POST /api/v1/federation/rounds/{round_id}/updates/initiate` (the generated contract's)

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::federated::{base_url, either_name};
use crate::auth::{Access, Acting, Allow, Caller, Target};
use crate::domain::JsonObject;
use crate::error::ApiError;
use crate::routes::parse_json_object;
use crate::state::{AppState, UploadLimits};
use crate::store::federation::{self, InitiateUpload};

pub const ACCESS: Access = Access {
    action: "uploading a federated update",
    allows: &[Allow::Device],
    target: Target::OwnDevice,
};

/// Room for the envelope's members besides `data` (format, sha256, size), which
/// `meta.size` does not count.
const ENVELOPE_SLACK: u64 = 64 * 1024;

/// The device agent's `{participation_id, meta}`; the generated contract's body is the
/// app's, read the same way.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(examples(json!({
    "participation_id": "0b6f0d56-2f4e-4a47-9a7e-8f3c1d2e4b5a",
    "meta": {"sample_count": 30, "size": 2048, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
})))]
struct InitiateRequest {
    /// The id the device joined with, if it sends one: it must be that one.
    participation_id: Option<String>,
    #[serde(rename = "participationId")]
    participation_id_camel: Option<String>,
    /// Kept with the upload. `sample_count` (the update's FedAvg weight, unless completion
    /// gives one) and `size` (bytes of the envelope's `data`, to size the parts) are read.
    meta: Option<JsonObject>,
}

#[derive(Serialize, ToSchema)]
struct UploadTicket {
    #[schema(format = Uuid)]
    upload_id: String,
    #[serde(rename = "uploadId")]
    #[schema(format = Uuid)]
    upload_id_camel: String,
    /// Where to `PUT` the envelope's consecutive slices, in order of the list, with the
    /// device's credential. Never empty.
    part_urls: Vec<String>,
    #[serde(rename = "partUrls")]
    part_urls_camel: Vec<String>,
    /// The largest part accepted, in bytes.
    max_part_bytes: u64,
    /// The largest upload, all parts together, in bytes.
    max_bytes: u64,
}

/// How many parts an upload gets: enough that the SDK's even split (`len // N`, the last
/// part taking the rest) keeps every part well under the part limit for an envelope whose
/// `data` is `size` bytes; with no size, enough for the largest upload.
fn part_count(size: Option<u64>, limits: UploadLimits) -> u64 {
    let target = (limits.part_bytes * 3 / 4).max(1);
    let bytes = size.map_or(limits.max_bytes, |s| s + ENVELOPE_SLACK);
    bytes
        .div_ceil(target)
        .clamp(1, limits.max_bytes.div_ceil(target).max(1))
}

/// Start an update upload
///
/// The device agent's call, and the generated contract's `federation.upload_initiate` at
/// its own path. Starts the upload of a device's update to a round it joined, and hands
/// out the `part_urls` (on devreg itself) to `PUT` the envelope's parts to. The device is the
/// key's; `participation_id`, when sent, must be the one it joined with. A round not
/// joined, ended, or that has the device's update already is a 409.
#[utoipa::path(post, path = crate::routes::FROM_TABLE, tag = "federation",
    params(("round_id" = String, Path, min_length = 1,
        description = "The round's `id`, or its `number` in the org.", example = "1")),
    request_body(content = Option<InitiateRequest>, description = "Optional."),
    responses(
        (status = 200, description = "The upload and its part URLs.", body = UploadTicket),
        (status = 404, description = "No such round that the key can see."),
        (status = 409, description = "The device did not join the round (or under another \
            participation id), the round has ended, or the device's update is in."),
        (status = 413, description = "`meta.size` is over the upload limit."),
    ),
)]
pub async fn initiate_upload(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let acting = ACCESS.acting(caller, None)?;
    initiate(state, acting, path.into_inner(), req, body).await
}

async fn initiate(
    state: web::Data<AppState>,
    acting: Acting,
    reference: String,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: InitiateRequest = parse_json_object(&body)?.unwrap_or_default();
    let named_pid =
        either_name(request.participation_id, request.participation_id_camel).map_err(|_| {
            ApiError::BadRequest(
                "participation_id and participationId must agree when both are sent".to_owned(),
            )
        })?;
    let meta = request.meta.map(|m| m.0).unwrap_or_default();
    let size = match meta.get("size") {
        None | Some(Value::Null) => None,
        Some(value) => Some(value.as_u64().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "meta.size must be a whole number of bytes, got {value}"
            ))
        })?),
    };
    let limits = state.uploads;
    if let Some(size) = size
        && size > limits.max_bytes
    {
        return Err(ApiError::PayloadTooLarge(format!(
            "meta.size is {size} bytes; an update upload may hold at most {} bytes \
             (--upload-max-bytes)",
            limits.max_bytes
        )));
    }
    let meta =
        serde_json::value::to_raw_value(&meta).map_err(|e| ApiError::Internal(e.to_string()))?;
    let command = InitiateUpload {
        round: reference,
        participation_id: named_pid,
        part_count: part_count(size, limits),
        meta,
        per_device: limits.per_device,
        per_round: limits.per_round,
    };
    let parts = command.part_count;
    let now = state.clock.now();
    let upload_id = state
        .db
        .write(move |tx| federation::initiate_upload(tx, &acting, &command, now))
        .await?;
    let base = base_url(&req);
    let urls: Vec<String> = (0..parts)
        .map(|n| format!("{base}/api/v1/federation/uploads/{upload_id}/parts/{n}"))
        .collect();
    Ok(HttpResponse::Ok().json(UploadTicket {
        upload_id_camel: upload_id.clone(),
        upload_id,
        part_urls_camel: urls.clone(),
        part_urls: urls,
        max_part_bytes: limits.part_bytes,
        max_bytes: limits.max_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_the_sdks_even_split_under_the_part_limit() {
        let limits = UploadLimits {
            part_bytes: 1024 * 1024,
            max_bytes: 64 * 1024 * 1024,
            per_device: 2,
            per_round: 10_000,
        };
        for size in [0, 10, 700_000, 5_000_000, 64 * 1024 * 1024] {
            let n = part_count(Some(size), limits);
            let len = size + 200; // the envelope around `data`
            let chunk = (len / n).max(1);
            let last = len.saturating_sub((n - 1) * chunk);
            assert!(
                chunk <= limits.part_bytes && last <= limits.part_bytes,
                "{size}: {n}"
            );
        }
        assert_eq!(part_count(Some(10), limits), 1);
        assert_eq!(
            part_count(None, limits),
            part_count(Some(64 * 1024 * 1024), limits)
        );
    }
}
