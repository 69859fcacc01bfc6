//! Building a server from a [`Config`]: the database, first start, the listener, the
//! middleware and the one route table.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Logger;
use actix_web::{App, HttpMessage, HttpRequest, HttpServer, guard, web};

use crate::admin::{self, AdminError, Bootstrap};
use crate::config::Config;
use crate::error::ApiError;
use crate::routes::{devices, health, rounds};
use crate::store::{Db, StoreError};

/// The largest request body accepted (CONTRACT.md: 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub open_registration: bool,
    pub heartbeat_interval_seconds: u32,
}

/// Why a server could not start, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Admin(#[from] AdminError),
    #[error("cannot listen on {bind}: {source}")]
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
    bootstrap: Bootstrap,
    server: actix_web::dev::Server,
}

impl Server {
    /// Opens the database, creates `org_demo` on first start, binds the listener and
    /// builds the HTTP server. Must be called inside an actix or tokio runtime.
    pub fn build(config: &Config) -> Result<Server, StartError> {
        if config.heartbeat_interval == 0 {
            return Err(StartError::Invalid(
                "--heartbeat-interval must be at least 1 second".to_owned(),
            ));
        }
        let db = Db::open(&config.db, config.read_connections)?;
        let bootstrap = admin::bootstrap(
            &db,
            config.secret_key.as_deref(),
            config.publishable_key.as_deref(),
        )?;
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartError::Bind {
            bind: config.bind.clone(),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            bind: config.bind.clone(),
            source,
        })?;

        let state = web::Data::new(AppState {
            db: db.clone(),
            open_registration: config.open_registration,
            heartbeat_interval_seconds: config.heartbeat_interval,
        });
        let mut http = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .configure(routes)
                .wrap_fn(|req, srv| {
                    let request_id = new_request_id();
                    req.extensions_mut().insert(RequestId(request_id.clone()));
                    let response = srv.call(req);
                    // The routing service turns every handler and extractor error into a
                    // response, so an `Err` here could only come from actix itself; it
                    // then renders through `ApiError`'s own `ResponseError`.
                    async move { Ok(finish_response(response.await?, &request_id)) }
                })
                .wrap(Logger::new(r#"%{x-request-id}o "%r" %s %b %Dms"#))
        })
        .listen(listener)
        .map_err(|source| StartError::Bind {
            bind: config.bind.clone(),
            source,
        })?
        .shutdown_timeout(10);
        if let Some(workers) = config.workers {
            http = http.workers(workers.max(1));
        }
        Ok(Server {
            addr,
            db,
            bootstrap,
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

    /// The server's database, for operator actions beside a running server.
    pub fn db(&self) -> &Db {
        &self.db
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

/// The route table: every endpoint devreg serves.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/devices").route(web::get().to(devices::list_devices)))
        // Only POST is registration: `GET /api/v1/devices/register` retrieves a device whose
        // identifier is "register".
        .service(
            web::resource("/api/v1/devices/register")
                .guard(guard::Post())
                .route(web::post().to(devices::register_device)),
        )
        .service(
            web::resource("/api/v1/devices/{device_id}").route(web::get().to(devices::get_device)),
        )
        .service(
            web::resource("/api/v1/devices/{device_id}/heartbeat")
                .route(web::put().to(devices::record_heartbeat))
                .route(web::post().to(devices::record_heartbeat)),
        )
        .service(
            web::resource("/api/v1/training/rounds")
                .route(web::get().to(rounds::list_rounds))
                .route(web::post().to(rounds::start_round)),
        )
        .service(
            web::resource("/api/v1/training/rounds/{round_id}")
                .route(web::get().to(rounds::get_round)),
        )
        .service(
            web::resource("/api/v1/training/rounds/{round_id}/join")
                .route(web::post().to(rounds::join_round)),
        )
        .service(
            web::resource("/api/v1/training/rounds/{round_id}/complete")
                .route(web::post().to(rounds::complete_round)),
        )
        .service(
            web::resource("/api/v1/training/rounds/{round_id}/cancel")
                .route(web::post().to(rounds::cancel_round)),
        )
        .service(web::resource("/healthz").route(web::get().to(health::get_health)))
        .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::from_status(
        actix_web::http::StatusCode::NOT_FOUND,
        req.method().as_str(),
        req.path(),
    ))
}

/// The id of one request, in the `X-Request-Id` header and every error body.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

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
            None => {
                ApiError::from_status(status, req.method().as_str(), req.path()).render(request_id)
            }
        };
        let mut rendered = rendered.map_into_boxed_body();
        if let Some(allow) = res.headers().get(header::ALLOW) {
            rendered.headers_mut().insert(header::ALLOW, allow.clone());
        }
        ServiceResponse::new(req, rendered)
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

/// Turns an error actix raised before a handler ran into the contract's error.
fn framework_error(
    status: actix_web::http::StatusCode,
    req: &HttpRequest,
    err: &actix_web::Error,
) -> ApiError {
    use actix_web::http::StatusCode;
    match status {
        StatusCode::BAD_REQUEST => {
            ApiError::BadRequest(format!("the request could not be read: {err}"))
        }
        StatusCode::INTERNAL_SERVER_ERROR => ApiError::Internal(err.to_string()),
        _ => ApiError::from_status(status, req.method().as_str(), req.path()),
    }
}
