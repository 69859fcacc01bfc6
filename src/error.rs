//! The one error type every handler returns, and the one JSON body every error gets.
//!
//! The policy (CONTRACT.md, "Errors"): a client sees a code, a sentence naming what it did
//! wrong, the status and the request id. Internal causes (SQL errors, pool timeouts, panics
//! in blocking code) are logged under the request id and never sent.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Everything a request can fail with. The variant decides the status and the code; the
/// string is the sentence for a person.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    ServiceUnavailable(String),
    /// The cause is for the log only; the client gets a fixed sentence.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    #[schema(schema_with = crate::openapi::error_code_schema)]
    pub error: &'static str,
    /// A sentence for a person, naming the field and what was wrong.
    #[schema(examples("limit must be an integer from 1 to 1000, got \"5000\""))]
    pub message: &'a str,
    /// The response's HTTP status.
    #[schema(minimum = 400, maximum = 599, examples(400))]
    pub status_code: u16,
    /// The request's id, as in the `X-Request-Id` header and the server's log line.
    #[schema(examples("req_11168a77c1964ccbb16d3f52edd4f797"))]
    pub request_id: &'a str,
}

const INTERNAL_MESSAGE: &str =
    "The server hit an unexpected error; the log has the details under this request id.";

impl ApiError {
    /// The contract's machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::ServiceUnavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The sentence the client sees; never an internal cause.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }

    /// Builds the response for this error, carrying `request_id` in the body. The
    /// `X-Request-Id` header is added by the middleware that owns the id.
    pub fn render(&self, request_id: &str) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("request {request_id} failed: {cause}");
        }
        let message = self.public_message();
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        if let ApiError::RateLimited {
            retry_after_secs, ..
        } = self
        {
            response.insert_header((header::RETRY_AFTER, (*retry_after_secs).max(1)));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(ErrorBody {
            error: self.code(),
            message: &message,
            status_code: status.as_u16(),
            request_id,
        })
    }

    /// Maps a response that some part of actix produced on its own (an unknown route, a
    /// wrong method, an oversized payload) onto the contract's errors.
    pub fn from_status(status: StatusCode, method: &str, path: &str) -> ApiError {
        match status {
            StatusCode::NOT_FOUND => {
                ApiError::NotFound(format!("no route matches {method} {path}"))
            }
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(format!(
                "{method} is not allowed on {path}; the Allow header lists the methods that are"
            )),
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge("request body is larger than the 64 KiB limit".to_owned())
            }
            s if s.is_client_error() => ApiError::BadRequest(format!(
                "the request could not be read ({})",
                s.canonical_reason().unwrap_or("client error")
            )),
            s => ApiError::Internal(format!("framework produced status {s} for {method} {path}")),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Only reached when an error escapes the request-id middleware, which renders every
    /// error itself; the body then has an empty request id rather than none.
    fn error_response(&self) -> HttpResponse {
        self.render("")
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Busy(cause) => {
                log::warn!("database busy: {cause}");
                ApiError::ServiceUnavailable("the database is busy; retry shortly".to_owned())
            }
            StoreError::Full => ApiError::ServiceUnavailable(
                "the database is out of space; writes fail until an operator frees some".to_owned(),
            ),
            StoreError::Duplicate => {
                ApiError::Conflict("a resource with that identifier already exists".to_owned())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}
