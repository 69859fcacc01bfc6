//! The one error type every handler returns, and the one JSON body every error gets.
//!
//! The policy (docs/api.md, "Errors"): a client sees a code, a sentence naming what it did
//! wrong, the status and the request id. Internal causes (SQL errors, pool timeouts, panics
//! in blocking code) are logged under the request id and never sent.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::store::{Failure, StoreError};

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
    /// The body did not arrive within the body timeout.
    #[error("{0}")]
    RequestTimeout(String),
    /// What was asked for existed once and is gone for good (events past retention).
    #[error("{0}")]
    Gone(String),
    /// A `Range` outside the file of `size` bytes (issue 26, hosted artifacts).
    #[error("{message}")]
    RangeNotSatisfiable { message: String, size: u64 },
    /// Storage is full, or an org's artifact quota would be passed (issue 26).
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// `cause`, when there is one, is for the log only.
    #[error("{message}")]
    ServiceUnavailable {
        message: String,
        cause: Option<String>,
    },
    /// The database failed: a 503 when it is busy or full, else a 500. The cause is
    /// logged under the request id; the client gets a sentence without it.
    #[error("{0}")]
    Store(StoreError),
    /// The cause is for the log only; the client gets a fixed sentence.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    #[schema(schema_with = error_code_schema)]
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
    /// One of each error the server sends, with the message its example shows.
    pub fn examples() -> [ApiError; 14] {
        [
            ApiError::BadRequest("limit must be an integer from 1 to 1000, got \"5000\"".to_owned()),
            ApiError::Unauthorized(
                "an API key is required: send it as Authorization: Bearer <key>".to_owned(),
            ),
            ApiError::Forbidden(
                "listing devices needs the org's secret key; a publishable key cannot".to_owned(),
            ),
            ApiError::NotFound("no device \"laptop-002\" in this key's org".to_owned()),
            ApiError::MethodNotAllowed(
                "DELETE is not allowed on /api/v1/devices; the Allow header lists the methods that are"
                    .to_owned(),
            ),
            ApiError::Conflict(
                "a device with device_id \"laptop-001\" is already registered in org org_demo"
                    .to_owned(),
            ),
            ApiError::PayloadTooLarge("request body is larger than the 64 KiB limit".to_owned()),
            ApiError::RequestTimeout(
                "the request body did not arrive within 15 s of its headers; send it whole, \
                 then retry"
                    .to_owned(),
            ),
            ApiError::Gone(
                "events of org org_demo up to seq 1200 are past retention; the retained log \
                 starts after seq 1200: read from after=1200"
                    .to_owned(),
            ),
            ApiError::RangeNotSatisfiable {
                message: "the range bytes=4096- starts past the file's 4096 bytes".to_owned(),
                size: 4096,
            },
            ApiError::InsufficientStorage(
                "org org_demo would store 10737418241 bytes of artifacts, over its quota of \
                 10737418240 bytes (--artifact-quota-bytes)"
                    .to_owned(),
            ),
            ApiError::RateLimited {
                message: "too many requests for this key; retry after 1 second".to_owned(),
                retry_after_secs: 1,
            },
            ApiError::Internal(String::new()),
            ApiError::Store(StoreError::Busy(String::new())),
        ]
    }

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
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Gone(_) => "gone",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::InsufficientStorage(_) => "insufficient_storage",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::ServiceUnavailable { .. } => "service_unavailable",
            ApiError::Store(cause) if store_unavailable(cause) => "service_unavailable",
            ApiError::Store(_) | ApiError::Internal(_) => "internal_error",
        }
    }

    /// The sentence the client sees; never an internal cause.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Store(StoreError::Busy(_)) => {
                "the database is busy; retry shortly".to_owned()
            }
            ApiError::Store(StoreError::Full) => {
                "the database is out of space; writes fail until an operator frees some".to_owned()
            }
            ApiError::Store(StoreError::Gone(_)) => {
                "the database file was deleted or replaced while the server runs; writes fail \
                 until an operator puts it back or restarts the server"
                    .to_owned()
            }
            ApiError::Store(StoreError::Unavailable(_)) => {
                "the database cannot be reached; retry shortly".to_owned()
            }
            ApiError::Store(_) | ApiError::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }

    /// Builds the response for this error, carrying `request_id` in the body. The
    /// `X-Request-Id` header is added by the middleware that owns the id.
    pub fn render(&self, request_id: &str) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => log::error!("request {request_id} failed: {cause}"),
            ApiError::Store(
                cause @ (StoreError::Busy(_) | StoreError::Gone(_) | StoreError::Unavailable(_)),
            ) => {
                log::warn!("request {request_id}: {cause}");
            }
            ApiError::Store(cause) => log::error!("request {request_id} failed: {cause}"),
            ApiError::ServiceUnavailable {
                cause: Some(cause), ..
            } => log::warn!("request {request_id}: {cause}"),
            _ => {}
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
        if let ApiError::RangeNotSatisfiable { size, .. } = self {
            response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
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

/// The `error` member of [`ErrorBody`]: every code the server sends.
fn error_code_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    crate::schema::schema(serde_json::json!({
        "type": "string",
        "enum": ApiError::examples().iter().map(ApiError::code).collect::<Vec<_>>(),
        "description": "The machine-readable error code; it follows from the status.",
    }))
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
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(cause) if store_unavailable(cause) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Only reached when an error escapes the request-id middleware, which renders every
    /// error itself; the body then has an empty request id rather than none.
    fn error_response(&self) -> HttpResponse {
        self.render("")
    }
}

/// Busy, full, gone and unreachable are passing states an operator or a retry can end:
/// 503, not 500.
fn store_unavailable(cause: &StoreError) -> bool {
    matches!(
        cause,
        StoreError::Busy(_) | StoreError::Full | StoreError::Gone(_) | StoreError::Unavailable(_)
    )
}

impl From<StoreError> for ApiError {
    /// A refused constraint that no caller mapped with `on_duplicate` is still a 409;
    /// everything else is the database failing.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Duplicate => {
                ApiError::Conflict("a resource with that identifier already exists".to_owned())
            }
            other => ApiError::Store(other),
        }
    }
}

impl Failure for ApiError {
    fn is_database_failure(&self) -> bool {
        matches!(self, ApiError::Store(_))
    }
}
