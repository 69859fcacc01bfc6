//! What the route table is made of, and the OpenAPI document's paths generated from it:
//! each route's operation (its handler's `#[utoipa::path]`) under the table's path and
//! method, aliases included, and the schemas the operations name. `openapi.rs` adds what
//! is document-wide.

use std::collections::HashMap;

use utoipa::openapi::path::{HttpMethod, Operation, Paths};
use utoipa::openapi::{RefOr, Schema};

use super::ROUTES;
use crate::auth::Access;

/// One entry of the route table: a method, a path pattern, who may call it, and what its
/// handler's `#[utoipa::path]` documents.
#[derive(Debug)]
pub struct Route {
    /// Lowercase, as OpenAPI writes methods.
    pub method: &'static str,
    pub path: &'static str,
    pub access: &'static Access,
    /// A page of the console (HTML, CSS, JavaScript for a browser), not an API operation:
    /// served like every route, left out of the OpenAPI document. The table says which,
    /// by putting the route under `pages:`.
    pub page: bool,
    /// The operation the document places under this path and method; `None` for a page.
    pub doc: Option<OperationDoc>,
    /// The operation id the table gives this route (`handler as id`): for an alias, a
    /// second route of a handler already in the table, whose id must differ from the
    /// first's. Without one an alias's id is the handler's followed by its method.
    pub operation_id: Option<&'static str>,
}

/// What a handler's `#[utoipa::path]` generates (its `__path_<handler>` type), held as
/// functions so the route table can carry it: the operation and its tags, the schemas it
/// names, and the methods the attribute gives (utoipa requires them; the table's method
/// is the one the document uses, and a test checks that the two agree).
#[derive(Debug, Clone, Copy)]
pub struct OperationDoc {
    pub operation: fn() -> Operation,
    pub tags: fn() -> Vec<&'static str>,
    pub schemas: fn(&mut Vec<(String, RefOr<Schema>)>),
    pub methods: fn() -> Vec<HttpMethod>,
}

impl OperationDoc {
    pub const fn of<P>() -> OperationDoc
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences + utoipa::__dev::Tags<'static>,
    {
        OperationDoc {
            operation: P::operation,
            tags: P::tags,
            schemas: P::schemas,
            methods: P::methods,
        }
    }
}

/// What each `#[utoipa::path]` gives as its `path`, which utoipa requires: the route table
/// places every operation under its own paths instead, so this is never read.
pub const FROM_TABLE: &str = "(the route table's)";

/// The document's paths and the schemas their operations name. A second route of a handler
/// (an alias) gets the id the table gives it, else the handler's followed by its method
/// (`record_heartbeat_post`), and says which operation it repeats. Then [`fall_through`].
pub fn document_paths() -> (Paths, Vec<(String, RefOr<Schema>)>) {
    let (mut paths, mut schemas) = (Paths::new(), Vec::new());
    let mut first: HashMap<String, &Route> = HashMap::new();
    for route in ROUTES {
        let Some(doc) = route.doc else { continue };
        let mut operation = (doc.operation)();
        let tags = (doc.tags)();
        if !tags.is_empty() {
            operation.tags = Some(tags.into_iter().map(str::to_owned).collect());
        }
        (doc.schemas)(&mut schemas);
        let own = operation.operation_id.clone().unwrap_or_default();
        if let Some(primary) = first.get(&own) {
            let id = route
                .operation_id
                .map_or_else(|| format!("{own}_{}", route.method), str::to_owned);
            let by = if primary.path == route.path {
                "method"
            } else {
                "path"
            };
            let (method, path) = (primary.method.to_uppercase(), primary.path);
            let description = operation.description.get_or_insert_with(String::new);
            let same = format!("The same operation as `{method} {path}` (`{own}`), by another");
            description.insert_str(0, &format!("{same} {by}.\n\n"));
            operation.summary = operation.summary.map(|s| format!("{s} (alias)"));
            operation.operation_id = Some(id);
        } else {
            first.insert(own, route);
        }
        paths.add_path_operation(route.path, vec![http_method(route.method)], operation);
    }
    fall_through(&mut paths);
    one_schema_per_name(&schemas);
    (paths, schemas)
}

/// Two types whose schemas take the same name would leave the document with whichever
/// came last, describing the other's requests or answers wrongly: a handler's private type
/// named like a domain type needs `#[schema(as = OtherName)]`.
fn one_schema_per_name(schemas: &[(String, RefOr<Schema>)]) {
    let mut seen: HashMap<&str, &RefOr<Schema>> = HashMap::new();
    let mut twice: Vec<&str> = schemas
        .iter()
        .filter(|(name, schema)| seen.insert(name, schema).is_some_and(|e| e != schema))
        .map(|(name, _)| name.as_str())
        .collect();
    twice.dedup();
    assert!(
        twice.is_empty(),
        "different schemas share the names {twice:?}: rename one of each with #[schema(as = ...)]"
    );
}

/// A path of the table without parameters (`/api/v1/devices/register`) that a pattern of
/// the table also matches (`/api/v1/devices/{device_id}`) serves that pattern's other
/// methods: its guard lets them through, with the path's last segment as the parameter,
/// and the `Allow` header says so. OpenAPI matches a concrete path before a pattern, so
/// without a copy of those operations under the path the document would call them
/// undocumented.
fn fall_through(paths: &mut Paths) {
    let api = || ROUTES.iter().filter(|r| !r.page);
    for path in api().map(|r| r.path).filter(|p| !p.contains('{')) {
        let own: Vec<&str> = api().filter(|r| r.path == path).map(|r| r.method).collect();
        for pattern in api().filter(|r| matches(r.path, path) && !own.contains(&r.method)) {
            let Some(mut operation) = paths
                .get_path_operation(pattern.path, http_method(pattern.method))
                .cloned()
            else {
                continue;
            };
            let (parameter, name) = pattern
                .path
                .split('/')
                .zip(path.split('/'))
                .find(|(p, _)| p.starts_with('{'))
                .expect("a pattern has a parameter");
            let noun = parameter.trim_matches(['{', '}']).trim_end_matches("_id");
            let id = operation.operation_id.clone().unwrap_or_default();
            operation.operation_id = Some(format!("{}_{noun}_named_{name}", pattern.method));
            operation.summary = operation
                .summary
                .map(|s| format!("{s}: the {noun} whose identifier is `{name}`"));
            operation.description = Some(format!(
                "`{} {}` (`{id}`) with `{name}` as the identifier: only {} to this path is an \
                 operation of its own.",
                pattern.method.to_uppercase(),
                pattern.path,
                own.join(", ").to_uppercase(),
            ));
            operation.parameters = None;
            // Its links would make it look like an entry point to link-following clients;
            // the operation it copies has them.
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response.links.clear();
                }
            }
            paths.add_path_operation(path, vec![http_method(pattern.method)], operation);
        }
    }
}

/// The route that serves `method` (lowercase) at the document's `path`: the first of the
/// table whose pattern matches, as the server resolves it.
pub fn serving(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| !r.page && r.method == method && matches(r.path, path))
}

/// Whether the route pattern `pattern` (`/a/{x}/b`) matches the path `path`, which may be
/// a pattern itself (then its parameters match only parameters).
fn matches(pattern: &str, path: &str) -> bool {
    pattern.split('/').count() == path.split('/').count()
        && pattern
            .split('/')
            .zip(path.split('/'))
            .all(|(p, s)| p == s || (p.starts_with('{') && !s.starts_with('{')))
}

/// The OpenAPI method of a route table's (lowercase) method.
fn http_method(name: &str) -> HttpMethod {
    match name {
        "get" => HttpMethod::Get,
        "put" => HttpMethod::Put,
        "post" => HttpMethod::Post,
        "delete" => HttpMethod::Delete,
        "patch" => HttpMethod::Patch,
        "head" => HttpMethod::Head,
        other => panic!("the route table has the method {other}, which the document lacks"),
    }
}
