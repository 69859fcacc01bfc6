//! HTTP handlers, one file per resource, and the body parsing they share.

pub mod control;
pub mod devices;
pub mod health;
pub mod rounds;

use serde::de::DeserializeOwned;

use crate::domain::json_kind;
use crate::error::ApiError;

/// Parses a JSON body whatever its Content-Type. An empty body is `None`; anything but a
/// JSON object is a 400 saying what was sent; a field of the wrong type or value is a 400
/// naming the field.
pub fn parse_json_object<T: DeserializeOwned>(body: &[u8]) -> Result<Option<T>, ApiError> {
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed[0] != b'{' {
        return Err(match serde_json::from_slice::<serde_json::Value>(trimmed) {
            Ok(value) => ApiError::BadRequest(format!(
                "the request body must be a JSON object, got {}",
                json_kind(&value)
            )),
            Err(e) => ApiError::BadRequest(format!("the request body is not valid JSON: {e}")),
        });
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(trimmed);
    serde_path_to_error::deserialize(deserializer)
        .map(Some)
        .map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if !inner.is_data() {
                return ApiError::BadRequest(format!(
                    "the request body is not valid JSON: {inner}"
                ));
            }
            // serde_json appends the position; for a field error the field name says more.
            let message = inner.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            if path == "." {
                ApiError::BadRequest(format!("the request body is not valid: {message}"))
            } else if message.starts_with("must ") {
                ApiError::BadRequest(format!("{path} {message}"))
            } else {
                ApiError::BadRequest(format!("{path}: {message}"))
            }
        })
}
