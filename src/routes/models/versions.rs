//! `GET /api/v1/models/{model_id}/versions`

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::answers::VersionInfo;
use crate::auth::{Access, Allow, Caller, Target};
use crate::domain::{Limit, Offset, quoted};
use crate::error::ApiError;
use crate::routes::parse_query;
use crate::routes::signed::point_home;
use crate::schema;
use crate::state::AppState;
use crate::store::registry;

pub const ACCESS: Access = Access {
    action: "listing a model's versions",
    allows: &[Allow::Secret, Allow::Publishable, Allow::Device],
    target: Target::Org,
};

/// The query as sent: text, so a bad value's error can quote it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionsParams {
    /// Most versions to return.
    #[param(schema_with = schema::limit_schema, required = false)]
    limit: Option<String>,
    /// Versions to skip.
    #[param(schema_with = schema::offset_schema, required = false)]
    offset: Option<String>,
    /// Only versions of this status: every version devreg lists is `published` (a
    /// version is visible once complete), so any other status lists none.
    #[param(
        required = false,
        example = "published",
        min_length = 1,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    status: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct VersionList<'a> {
    model_id: &'a str,
    versions: Vec<VersionInfo<'a>>,
    /// How many versions the model has in all (of the status asked for).
    total: i64,
    limit: u32,
    offset: u64,
}

/// List a model's versions
///
/// The versions of a model of the key's org (named by its id or its name), newest first,
/// a page at a time.
#[utoipa::path(get, path = crate::routes::FROM_TABLE, tag = "models",
    params(("model_id" = String, Path, min_length = 1,
        description = "The model's id, or its name."), VersionsParams),
    responses(
        (status = 200, description = "A page of versions.", body = VersionList),
        (status = 404, description = "No model of that id or name in the key's org."),
        (status = 409, description = "The name is several models' and none's id."),
    ),
)]
pub async fn list_versions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let credential = ACCESS.require(caller)?;
    let params = parse_query::<VersionsParams>(&req)?;
    let limit = Limit::parse(params.limit.as_deref()).map_err(ApiError::BadRequest)?;
    let offset = Offset::parse(params.offset.as_deref()).map_err(ApiError::BadRequest)?;
    let published = match params.status.as_deref() {
        None | Some("published") => true,
        Some(other) if other.is_empty() || other.chars().any(char::is_control) => {
            return Err(ApiError::BadRequest(format!(
                "status must be a version status such as published, got {}",
                quoted(other)
            )));
        }
        Some(_) => false,
    };
    let (org_id, reference) = (credential.org_id.clone(), path.into_inner());
    let (limit, offset) = (limit.get(), offset.get());
    let mut page = state
        .db
        .read(move |conn| registry::list_versions(conn, org_id.as_str(), &reference, limit, offset))
        .await?;
    for delivery in &mut page.versions {
        point_home(&req, &state, credential.org_id.as_str(), delivery);
    }
    let versions = if published {
        page.versions.iter().map(VersionInfo::of_delivery).collect()
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok().json(VersionList {
        model_id: &page.model.model_id,
        versions,
        total: if published { page.total } else { 0 },
        limit,
        offset,
    }))
}
