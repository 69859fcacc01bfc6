//! What kind of request a path is, where more than one layer must agree: the console's
//! pages are not API requests, so neither rate limited nor kept in the request journal.
//! Low in the module graph, so the rate limiter need not know the routes.

/// Whether `path` is the console's page or one of its files (or `/`, which leads there).
pub fn is_console_path(path: &str) -> bool {
    path == "/" || path == "/console" || path.starts_with("/console/")
}
