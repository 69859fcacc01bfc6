//! The console: a fleet dashboard for a browser, served by the binary itself at
//! `/console`. Its files are committed under `console/` exactly as they are served (plain
//! HTML, CSS and JavaScript modules, no build step) and embedded here, so the binary needs
//! nothing beside it and the page loads nothing from another host. The page reads no key;
//! the browser signs in with the org's secret key, which its API calls then send.

pub mod pages;

/// One embedded file of the console.
#[derive(Debug)]
pub struct Asset {
    /// Its name under `/console/` and under `console/` in the repository.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! assets {
    ($( $name:literal => $content_type:literal ),* $(,)?) => {
        /// Every file of `console/`, embedded.
        pub const ASSETS: &[Asset] = &[ $( Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../../console/", $name)),
        } ),* ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "format.js" => "text/javascript; charset=utf-8",
    "devices.js" => "text/javascript; charset=utf-8",
    "device.js" => "text/javascript; charset=utf-8",
    "rounds.js" => "text/javascript; charset=utf-8",
    "events.js" => "text/javascript; charset=utf-8",
    "journal.js" => "text/javascript; charset=utf-8",
    "models.js" => "text/javascript; charset=utf-8",
    "experiments.js" => "text/javascript; charset=utf-8",
}

/// The Content-Security-Policy every console response carries: everything from this
/// server, nothing inline, nothing from anywhere else, never inside another site's frame.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub use crate::paths::is_console_path;

/// The embedded file called `name`.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}
