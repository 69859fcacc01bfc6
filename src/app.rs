//! Building a server from a [`Config`]: the listener, the database, first start, the
//! middleware and the one route table.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use actix_cors::Cors;
use actix_web::body::{self as http_body, BodyStream, BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Condition;
use actix_web::middleware::Next;
use actix_web::{App, HttpMessage, HttpRequest, HttpServer, web};

use crate::admin::{self, AdminError, Bootstrap};
use crate::body;
use crate::config::Config;
use crate::domain::ConnectivityRule;
use crate::error::ApiError;
use crate::journal::{self, Journal, JournalEntry};
use crate::metrics::Metrics;
use crate::openapi;
use crate::ratelimit::{self, RateLimits};
use crate::routes;
use crate::seed::Seed;
use crate::state::{AppState, StorageCaps};
use crate::store::{Db, StoreError};
use crate::sweep::{SweepRules, Sweeper};

/// The largest request body accepted (docs/api.md, "Errors": 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a server could not start, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Admin(#[from] AdminError),
    #[error("cannot listen on {bind}: {source}; give another address with --bind (or DEVREG_BIND)")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A devreg server that has opened its database and bound its port, ready to run.
pub struct Server {
    addr: SocketAddr,
    db: Db,
    sweeper: Sweeper,
    bootstrap: Bootstrap,
    journal: Option<Arc<Journal>>,
    server: actix_web::dev::Server,
}

impl Server {
    /// Binds the listener, opens the database, creates `org_demo` on first start and
    /// builds the HTTP server. Must be called inside an actix or tokio runtime.
    pub fn build(config: &Config) -> Result<Server, StartError> {
        if config.heartbeat_interval == 0 {
            return Err(StartError::Invalid(
                "--heartbeat-interval must be at least 1 second".to_owned(),
            ));
        }
        if config.stale_after_intervals == 0
            || config.offline_after_intervals <= config.stale_after_intervals
        {
            return Err(StartError::Invalid(format!(
                "--offline-after-intervals ({}) must be greater than --stale-after-intervals \
                 ({}), which must be at least 1",
                config.offline_after_intervals, config.stale_after_intervals
            )));
        }
        if config.seed.is_some() && !config.ephemeral {
            return Err(StartError::Invalid(
                "--seed needs --ephemeral: a seed is reloaded at every reset".to_owned(),
            ));
        }
        let seed = config
            .seed
            .as_deref()
            .map(Seed::load)
            .transpose()
            .map_err(StartError::Invalid)?;
        let config = &config.resolve();
        let cors_origins = config.cors_origins.clone();
        if let Some(bad) = cors_origins.iter().find(|o| !is_origin(o)) {
            return Err(StartError::Invalid(format!(
                "--cors-origin {} is not an origin: give scheme://host[:port] with no \
                 path, such as http://localhost:3000, or * for any origin",
                crate::domain::quoted(bad)
            )));
        }
        if config.upload_part_bytes < 1024 || config.upload_max_bytes < config.upload_part_bytes {
            return Err(StartError::Invalid(format!(
                "--upload-part-bytes must be at least 1024 and at most --upload-max-bytes; got \
                 {} and {}",
                config.upload_part_bytes, config.upload_max_bytes
            )));
        }
        let limits = Arc::new(RateLimits::from_config(config).map_err(StartError::Invalid)?);
        // Bound before the database is opened: a start that cannot listen must not create
        // the database and org_demo, whose keys it would never show (the next start, on a
        // database that is no longer empty, prints no banner).
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartError::Bind {
            bind: config.bind.clone(),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            bind: config.bind.clone(),
            source,
        })?;
        let db = Db::open(&config.db, config.read_connections)?;
        let bootstrap = admin::bootstrap(
            &db,
            config.secret_key.as_deref(),
            config.publishable_key.as_deref(),
        )?;
        let baseline = match (&bootstrap.created, config.ephemeral) {
            (Some(first), true) => {
                let seed = seed.unwrap_or_default();
                db.write_sync(|tx| seed.apply(tx, None))
                    .map_err(|e| match e {
                        StoreError::Duplicate => StartError::Invalid(
                            "the seed file gives a key that --secret-key or --publishable-key \
                             gives too"
                                .to_owned(),
                        ),
                        other => other.into(),
                    })?;
                Some(Arc::new(seed.with_first_org(first)))
            }
            _ => None,
        };

        let connectivity = ConnectivityRule::new(
            config.heartbeat_interval,
            config.stale_after_intervals,
            config.offline_after_intervals,
        );
        let artifacts =
            crate::artifacts::Artifacts::open_location(config.artifacts.as_deref(), &config.db)
                .map_err(StartError::Invalid)?;
        let sweeper = Sweeper::start(
            db.clone(),
            config.clock.clone(),
            SweepRules {
                rule: connectivity,
                retention_secs: config.event_retention,
                upload_abandon_secs: config.upload_abandon_after.into(),
                every: (config.sweep_interval > 0)
                    .then(|| std::time::Duration::from_secs(config.sweep_interval.into())),
                artifacts: artifacts.clone(),
            },
        )?;
        let signing_key = db.write_sync(|tx| {
            crate::store::artifacts::signing_key(tx, &crate::artifacts::fresh_key())
        })?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            clock: config.clock.clone(),
            rate_limit_clock: config.rate_limit_clock.clone(),
            metrics: Metrics::new(),
            open_registration: config.open_registration,
            heartbeat_interval_seconds: config.heartbeat_interval,
            telemetry_retention: crate::store::telemetry::Retention {
                per_device: config.telemetry_per_device,
                per_org: config.telemetry_per_org,
            },
            token_ttls: crate::state::TokenTtls {
                access: config.access_token_ttl.max(1),
                refresh: config.refresh_token_ttl.max(1),
            },
            limits: limits.clone(),
            readiness: tokio::sync::Mutex::new(None),
            caps: StorageCaps {
                capabilities_bytes: config.max_capabilities_bytes,
                metadata_bytes: config.max_metadata_bytes,
                metrics_bytes: config.max_metrics_bytes,
                devices_per_org: config.max_devices_per_org,
            },
            body_timeout: config.body_timeout,
            connectivity,
            sweeper: sweeper.clone(),
            event_keepalive_seconds: config.event_keepalive.max(1),
            event_streams: crate::state::StreamSlots::new(config.max_streams_per_key),
            metrics_access: crate::metrics::Access::of(
                config.metrics_token.as_deref(),
                config.ephemeral,
            ),
            uploads: crate::state::UploadLimits {
                part_bytes: config.upload_part_bytes,
                max_bytes: config.upload_max_bytes,
                per_device: config.uploads_per_device,
                per_round: config.uploads_per_round,
            },
            openapi_json: if baseline.is_some() {
                || openapi::json(true)
            } else {
                || openapi::json(false)
            },
            artifacts,
            artifact_limits: crate::state::ArtifactLimits {
                max_bytes: config.artifact_max_bytes,
                quota_bytes: config.artifact_quota_bytes,
                abandon_after_secs: config.artifact_upload_abandon_after,
            },
            signing_key,
            journal: (baseline.is_some() && config.journal_entries > 0)
                .then(|| Arc::new(Journal::new(config.journal_entries))),
            baseline,
        });
        state.metrics.set_device_quota(config.max_devices_per_org);
        let event_hub = web::Data::from(routes::events::hub::Hub::new(
            db.clone(),
            config.clock.clone(),
            state.metrics.stream_reads(),
        ));
        limits.start_cleanup(ratelimit::CLEANUP_EVERY);
        let journal = state.journal.clone();
        let journaled = journal.is_some();
        let body_timeout = config.body_timeout;
        let mut http = HttpServer::new(move || {
            let limits = limits.clone();
            App::new()
                .app_data(state.clone())
                .app_data(event_hub.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .configure(routes::configure)
                // Inside the request-id middleware, so a 429 gets the JSON body and the id;
                // outside the routes, so it runs before any extractor touches the database.
                .wrap_fn(move |req, srv| {
                    let admitted = match limits.admit(req.request()) {
                        Ok(ticket) => Ok((ticket, srv.call(req))),
                        Err(limited) => Err(req.error_response(limited)),
                    };
                    let limits = limits.clone();
                    async move {
                        match admitted {
                            Ok((ticket, response)) => Ok(limits.settle(ticket, response.await?)),
                            Err(limited) => Ok(limited),
                        }
                    }
                })
                // Inside the request-id layer, so preflight answers and CORS refusals get
                // a request id and the JSON error body too.
                .wrap(Condition::new(
                    !cors_origins.is_empty(),
                    cors(&cors_origins),
                ))
                .wrap_fn({
                    let state = state.clone();
                    move |mut req, srv| {
                        let started = Instant::now();
                        // The id goes into the response and, with it, into the one log
                        // line of the request and the log line of any error it met.
                        // An artifact upload's body may take hours; its handler puts each
                        // chunk under the deadline instead (issue 26).
                        if !crate::artifacts::is_upload_path(req.path()) {
                            body::read_within(&mut req, body_timeout);
                        }
                        let request_id = new_request_id();
                        let response = srv.call(req);
                        let state = state.clone();
                        // The routing service turns every handler and extractor error into
                        // a response, so an `Err` here could only come from actix itself;
                        // it then renders through `ApiError`'s own `ResponseError`.
                        async move {
                            let response = response.await?.map_into_boxed_body();
                            let response = finish_response(response, &request_id);
                            observe(&state.metrics, &response, &request_id, started);
                            Ok(response)
                        }
                    }
                })
                // Outermost: the journal sees the request as it came and the answer as it
                // left, request id and error body included.
                .wrap(Condition::new(
                    journaled,
                    actix_web::middleware::from_fn(journal_request),
                ))
        })
        .listen(listener)
        .map_err(|source| StartError::Bind {
            bind: config.bind.clone(),
            source,
        })?
        // A throwaway server has nothing worth waiting for at exit.
        .shutdown_timeout(if config.ephemeral { 1 } else { 10 });
        if let Some(workers) = config.workers {
            http = http.workers(workers.max(1));
        }
        if !config.handle_signals {
            http = http.disable_signals();
        }
        Ok(Server {
            addr,
            db,
            sweeper,
            bootstrap,
            journal,
            server: http.run(),
        })
    }

    /// The address the server listens on (the real port when the config asked for 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What first start did: the demo org's keys when it created them.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// The request journal, on an ephemeral server.
    pub fn journal(&self) -> Option<&Arc<Journal>> {
        self.journal.as_ref()
    }

    /// The server's database, for operator actions beside a running server.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The server's connectivity sweep, for a test that wants one now.
    pub fn sweeper(&self) -> &Sweeper {
        &self.sweeper
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGINT/SIGTERM, or the handle).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Whether `text` is `*` or an origin a browser sends: `scheme://host[:port]`.
fn is_origin(text: &str) -> bool {
    text == "*"
        || text.parse::<actix_web::http::Uri>().is_ok_and(|uri| {
            uri.scheme().is_some()
                && uri.authority().is_some()
                && !text.ends_with('/')
                && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
        })
}

/// The CORS policy: the listed origins (`*` for any), the API's methods, any request
/// header, and the response headers a browser app needs to read exposed.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allow_any_header()
        .expose_headers(["x-request-id", "retry-after", "location"])
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// The most of a request body the journal reads before the handler does; a body larger
/// than anything an operation takes is refused with a 413 by the journal itself.
const MAX_JOURNALED_BODY: usize = 4 * 1024 * 1024;

/// Records a request and its answer in the request journal of an ephemeral server.
/// Outside the request-id layer, so the entry has the final status, body and id. Test
/// control and the console are not API requests and are not recorded.
async fn journal_request(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let journal = req.app_data::<web::Data<AppState>>().and_then(|state| {
        Some((
            state.journal.clone()?,
            state.clock.clone(),
            state.body_timeout,
        ))
    });
    let path = req.path().to_owned();
    // Test control and the console's own files are not what an app under test sent.
    let Some((journal, clock, body_timeout)) = journal.filter(|_| {
        !path.starts_with("/_devreg/")
            && !crate::paths::is_console_path(&path)
            && !crate::artifacts::is_upload_path(&path)
    }) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let started = Instant::now();
    let method = req.method().to_string();
    let query = journal::redact_text(req.query_string());
    let credential = match crate::auth::presented_key(req.request()) {
        Ok(Some(key)) => Some(journal::redact_secret(key)),
        Ok(None) => None,
        Err(_) => Some("(unreadable)".to_owned()),
    };
    // The body is read here, before the handler, under the same deadline the request-id
    // layer would put it under: a stalled body is a 408 on an ephemeral server too.
    body::read_within(&mut req, body_timeout);
    let payload = BodyStream::new(req.take_payload());
    let refused = match http_body::to_bytes_limited(payload, MAX_JOURNALED_BODY).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(unreadable)) => {
            let err = actix_web::Error::from(unreadable);
            let status = err.as_response_error().status_code();
            Err(framework_error(status, req.request(), &err))
        }
        Err(_) => Err(ApiError::PayloadTooLarge(format!(
            "request body is larger than the request journal's {} MiB",
            MAX_JOURNALED_BODY / 1024 / 1024
        ))),
    };
    let request_body = match refused {
        Ok(bytes) => bytes,
        Err(refused) => {
            let id = new_request_id();
            let mut response = refused.render(&id);
            if let Ok(value) = HeaderValue::from_str(&id) {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static("x-request-id"), value);
            }
            let response = req.into_response(response).map_into_boxed_body();
            journal.record(JournalEntry {
                seq: 0,
                at: clock.now(),
                request_id: id,
                method,
                path,
                query,
                credential,
                status: response.status().as_u16(),
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                request_body: serde_json::Value::Null,
                response_body: serde_json::json!({"error": refused.code()}),
            });
            return Ok(response);
        }
    };
    req.set_payload(actix_web::dev::Payload::from(request_body.clone()));

    let response = next.call(req).await?;
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            // Event streams, and hosted model files (issue 26) of up to gigabytes.
            v.as_bytes().starts_with(b"text/event-stream")
                || v.as_bytes().starts_with(b"application/octet-stream")
        });
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (http_req, res) = response.into_parts();
    // A stream (Server-Sent Events) goes on after the entry is written: its body is not kept.
    let (res, kept) = if streaming {
        (res.map_into_boxed_body(), serde_json::Value::Null)
    } else {
        let (head, res_body) = res.into_parts();
        let bytes = http_body::to_bytes(res_body)
            .await
            .map_err(|e| actix_web::error::ErrorInternalServerError(e.into().to_string()))?;
        let kept = journal::body_value(&bytes);
        (head.set_body(BoxBody::new(bytes)), kept)
    };
    journal.record(JournalEntry {
        seq: 0,
        at: clock.now(),
        request_id,
        method,
        path,
        query,
        credential,
        status,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        request_body: journal::body_value(&request_body),
        response_body: kept,
    });
    Ok(ServiceResponse::new(http_req, res))
}

/// The id of one request, in the `X-Request-Id` header, every error body and every log
/// line about the request.
fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::new_v4().simple())
}

/// Gives every response its request id, and every error the contract's JSON body, whoever
/// produced it: a handler's [`ApiError`], an extractor, or actix itself (unknown route,
/// wrong method, oversized body).
fn finish_response(response: ServiceResponse, request_id: &str) -> ServiceResponse {
    let status = response.status();
    let mut response = if status.is_client_error() || status.is_server_error() {
        let (req, res) = response.into_parts();
        let rendered = match res.error() {
            Some(err) => match err.as_error::<ApiError>() {
                Some(api_error) => api_error.render(request_id),
                None => framework_error(status, &req, err).render(request_id),
            },
            None if status == actix_web::http::StatusCode::METHOD_NOT_ALLOWED
                && is_preflight(&req) =>
            {
                ApiError::MethodNotAllowed(format!(
                    "{} is a CORS preflight, and this server sends no CORS headers: start it \
                     with --cors-origin ORIGIN (or DEVREG_CORS_ORIGINS) to let that browser \
                     origin call the API",
                    req.method().as_str()
                ))
                .render(request_id)
            }
            None => {
                ApiError::from_status(status, req.method().as_str(), req.path()).render(request_id)
            }
        };
        let mut rendered = rendered.map_into_boxed_body();
        // Keep what the error's body does not decide: `Allow` on a 405, and the CORS
        // headers so a browser app can read the error.
        for (name, value) in res.headers() {
            let name_text = name.as_str();
            if name == header::ALLOW
                || name == header::VARY
                || name_text == crate::routes::telemetry::otlp::NEEDS_REGISTRATION_HEADER
                || name_text.starts_with("access-control-")
            {
                rendered.headers_mut().append(name.clone(), value.clone());
            }
        }
        ServiceResponse::new(req, rendered)
    } else if response.request().method() == actix_web::http::Method::OPTIONS {
        // A CORS preflight answer, which actix-cors sends without a body: JSON too.
        response.map_body(|head, _| {
            head.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            actix_web::body::BoxBody::new("{}")
        })
    } else {
        response.map_into_boxed_body()
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    response
}

/// Whether a request is a browser's CORS preflight: OPTIONS, naming the method to come.
fn is_preflight(req: &HttpRequest) -> bool {
    req.method() == actix_web::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Counts the request in the metrics and writes its one log line: request id, method,
/// route pattern (never the path's identifiers or any header), status, latency.
fn observe(metrics: &Metrics, response: &ServiceResponse, request_id: &str, started: Instant) {
    let elapsed = started.elapsed();
    let request = response.request();
    let route = request.match_pattern();
    let method = request.method().as_str();
    let status = response.status().as_u16();
    metrics.observe(route.as_deref(), method, status, elapsed);
    log::info!(
        target: "devreg::request",
        "{request_id} {method} {} {status} {:.2}ms",
        route.as_deref().unwrap_or("unmatched"),
        elapsed.as_secs_f64() * 1000.0
    );
}

/// Turns an error actix raised before a handler ran into the contract's error.
fn framework_error(
    status: actix_web::http::StatusCode,
    req: &HttpRequest,
    err: &actix_web::Error,
) -> ApiError {
    use actix_web::error::PayloadError;
    use actix_web::http::StatusCode;
    if let Some(payload) = err.as_error::<PayloadError>() {
        // actix's own texts are for developers ("payload reached EOF before completing:
        // None"); these are sentences for the client.
        return match payload {
            PayloadError::Io(e) if body::is_timeout(payload) => {
                ApiError::RequestTimeout(e.to_string())
            }
            PayloadError::Overflow => ApiError::from_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                req.method().as_str(),
                req.path(),
            ),
            PayloadError::Incomplete(_) => ApiError::BadRequest(
                "the request body ended before the length its headers announced \
                 (Content-Length or the chunked framing)"
                    .to_owned(),
            ),
            PayloadError::EncodingCorrupted => ApiError::BadRequest(
                "the request body could not be decoded: its chunked framing or \
                 Content-Encoding is corrupt"
                    .to_owned(),
            ),
            PayloadError::UnknownLength => ApiError::BadRequest(
                "the request body has no length: send Content-Length or chunked transfer \
                 encoding"
                    .to_owned(),
            ),
            _ => ApiError::BadRequest(
                "the request body could not be read: the connection failed while it was \
                 being sent"
                    .to_owned(),
            ),
        };
    }
    match status {
        StatusCode::BAD_REQUEST => ApiError::BadRequest(
            "the request could not be read: it is not a well-formed HTTP request".to_owned(),
        ),
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::Internal(err.to_string()),
        _ => ApiError::from_status(status, req.method().as_str(), req.path()),
    }
}
