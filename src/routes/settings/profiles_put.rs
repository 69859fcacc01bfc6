//! `PUT /api/v1/devices/profiles`

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{ProfilesBody, etag};
use crate::auth::{Access, Allow, Caller, Target};
use crate::error::ApiError;
use crate::routes::{parse_json_object, quoted};
use crate::state::AppState;
use crate::store::device_settings::{self, DEFAULT_PROFILES_TTL_SECONDS};

pub const ACCESS: Access = Access {
    action: "setting the device profiles",
    allows: &[Allow::Secret],
    target: Target::Org,
};

/// Most machines one map may name.
const MAX_PROFILES: usize = 1000;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(examples(json!({"profiles": {"iPhone16,1": "iphone_15_pro",
    "iPhone17,1": "iphone_16_pro"}, "ttl_seconds": 86400})))]
struct SetProfiles {
    /// Machine identifier to profile, each 1 to 64 characters; at most 1000.
    #[schema(schema_with = profiles_schema)]
    profiles: BTreeMap<String, String>,
    /// 60 to 2592000 (30 days); default 86400.
    #[schema(minimum = 60, maximum = 2592000)]
    // 5320.0 is an integer to JSON Schema too.
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    ttl_seconds: Option<i64>,
}

/// `profiles`: what [`checked`] accepts.
fn profiles_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 64,
        "pattern": crate::schema::NO_CONTROL_CHARACTERS});
    crate::schema::schema(json!({
        "type": "object",
        "maxProperties": MAX_PROFILES,
        "propertyNames": name,
        "additionalProperties": name,
    }))
}

fn checked(request: SetProfiles) -> Result<(Map<String, Value>, i64), ApiError> {
    if request.profiles.len() > MAX_PROFILES {
        return Err(ApiError::BadRequest(format!(
            "profiles may name at most {MAX_PROFILES} machines, got {}",
            request.profiles.len()
        )));
    }
    let ttl = request.ttl_seconds.unwrap_or(DEFAULT_PROFILES_TTL_SECONDS);
    if !(60..=2_592_000).contains(&ttl) {
        return Err(ApiError::BadRequest(format!(
            "ttl_seconds must be from 60 to 2592000 (30 days), got {ttl}"
        )));
    }
    let fits = |s: &str| (1..=64).contains(&s.chars().count()) && !s.chars().any(char::is_control);
    let mut map = Map::new();
    for (machine, profile) in request.profiles {
        if !fits(&machine) || !fits(&profile) {
            return Err(ApiError::BadRequest(format!(
                "profiles members must be 1 to 64 characters without control characters, got \
                 {}: {}",
                quoted(&machine),
                quoted(&profile)
            )));
        }
        map.insert(machine, Value::String(profile));
    }
    Ok((map, ttl))
}

/// Set the org's device profiles
///
/// Replaces the map iOS reads from `GET /api/v1/devices/profiles`. Writes an
/// `org.device_profiles_updated` event.
#[utoipa::path(put, path = crate::routes::FROM_TABLE, tag = "settings",
    request_body(content = SetProfiles, description = "The map."),
    responses((status = 200, description = "The map now.", body = ProfilesBody)),
)]
pub async fn set_device_profiles(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let request: SetProfiles = parse_json_object(&body)?.ok_or_else(|| {
        ApiError::BadRequest("profiles is required: an object of machine to profile".to_owned())
    })?;
    let (map, ttl) = checked(request)?;
    let now = state.clock.now();
    let org_id = credential.org_id.clone();
    let profiles = state
        .db
        .write(move |tx| device_settings::set_device_profiles(tx, org_id.as_str(), &map, ttl, now))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(&profiles)))
        .json(ProfilesBody::of(&profiles, now)))
}
