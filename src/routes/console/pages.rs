//! `GET /`, `GET /console` and `GET /console/{file}`: the console's page and its files.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::{Asset, CONTENT_SECURITY_POLICY, asset};
use crate::auth::Access;
use crate::error::ApiError;
use crate::routes::quoted;

/// The page and its files read no key: what the browser signs in with goes only to the API.
pub const ACCESS: Access = Access::PUBLIC;

/// `/` is the console's: a person who opens the server's address sees it.
pub async fn redirect_to_console() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/console"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "location": "/console" }))
}

/// The console's one page; the views are drawn by its scripts.
pub async fn get_console() -> HttpResponse {
    serve(asset("index.html").expect("console/index.html is embedded"))
}

/// A file of the console, by name.
pub async fn get_asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = file.into_inner();
    asset(&name)
        .map(serve)
        .ok_or_else(|| ApiError::NotFound(format!("the console has no file {}", quoted(&name))))
}

fn serve(asset: &Asset) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // Embedded in the binary: a new devreg may serve new files under the same names.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body)
}
