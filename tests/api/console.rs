//! The console: served by the binary at `/console` from files embedded in it, under a
//! strict Content-Security-Policy, loading nothing from another host; its routes are the
//! table's pages, public and left out of the OpenAPI document.

use std::collections::BTreeSet;
use std::path::Path;

use devreg::routes::ROUTES;
use devreg::routes::console::{ASSETS, CONTENT_SECURITY_POLICY};
use reqwest::Method;

use crate::helpers::spawn_app;

fn console_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

#[tokio::test]
async fn the_root_redirects_to_the_console() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let reply = client.get(app.url("/")).send().await.unwrap();

    assert_eq!(reply.status(), 302);
    assert_eq!(reply.headers()["location"], "/console");
}

#[tokio::test]
async fn the_console_page_is_html_under_a_strict_content_security_policy() {
    let app = spawn_app().await;

    for path in ["/console", "/console/"] {
        let reply = app.client.get(app.url(path)).send().await.unwrap();

        assert_eq!(reply.status(), 200, "{path}");
        let headers = reply.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert_eq!(policy, CONTENT_SECURITY_POLICY);
        assert!(policy.starts_with("default-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let html = reply.text().await.unwrap();
        assert!(html.contains(r#"<script type="module" src="/console/app.js">"#));
    }
}

#[tokio::test]
async fn every_file_under_console_is_embedded_and_served_with_its_type_and_policy() {
    let app = spawn_app().await;
    let committed: BTreeSet<String> = std::fs::read_dir(console_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let embedded: BTreeSet<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
    assert_eq!(
        committed, embedded,
        "console/ and the embedded ASSETS differ"
    );

    for asset in ASSETS {
        let reply = app
            .client
            .get(app.url(&format!("/console/{}", asset.name)))
            .send()
            .await
            .unwrap();

        assert_eq!(reply.status(), 200, "{}", asset.name);
        assert_eq!(reply.headers()["content-type"], asset.content_type);
        assert_eq!(
            reply.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );
        let served = reply.bytes().await.unwrap();
        let on_disk = std::fs::read(console_dir().join(asset.name)).unwrap();
        assert_eq!(served.as_ref(), on_disk.as_slice(), "{}", asset.name);
    }
}

#[test]
fn no_console_file_loads_from_another_host_or_runs_inline_code() {
    for asset in ASSETS {
        let text = std::str::from_utf8(asset.body).unwrap();
        // The SVG's XML namespace is a name, not something loaded.
        let text = text.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        for scheme in ["http://", "https://", "//cdn", "@import"] {
            assert!(
                !text.contains(scheme),
                "console/{} names {scheme}: everything must come from devreg itself",
                asset.name
            );
        }
        if asset.name.ends_with(".html") {
            for inline in [" style=", " onclick=", " onload=", " onsubmit=", "<style"] {
                assert!(
                    !text.contains(inline),
                    "console/{} has inline {inline}, which the policy refuses",
                    asset.name
                );
            }
            for script in text.split("<script").skip(1) {
                assert!(
                    script
                        .trim_start()
                        .starts_with("type=\"module\" src=\"/console/"),
                    "console/{}: every script is a file of the console: <script{script}",
                    asset.name
                );
            }
        }
    }
}

#[tokio::test]
async fn an_unknown_console_file_is_the_json_404() {
    let app = spawn_app().await;

    let reply = app
        .send(Method::GET, "/console/missing.js", None, None)
        .await;

    let message = reply.assert_error(404, "not_found");
    assert!(message.contains("missing.js"), "{message}");
}

#[tokio::test]
async fn the_pages_of_the_route_table_are_public_and_not_in_the_document() {
    let app = spawn_app().await;
    let document = app
        .send(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let pages: Vec<_> = ROUTES.iter().filter(|r| r.page).collect();

    assert!(pages.iter().any(|r| r.path == "/console"));
    for page in pages {
        assert!(page.access.is_public(), "{} reads no key", page.path);
        assert!(
            document["paths"][page.path].is_null(),
            "{} is a page, not an API operation, and stays out of the document",
            page.path
        );
    }
}

#[tokio::test]
async fn loading_the_console_never_spends_the_anonymous_rate_limit() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.rate_limit_anonymous = 2;
        c.rate_limit_anonymous_burst = Some(2);
    })
    .await;

    for _ in 0..10 {
        let reply = app
            .client
            .get(app.url("/console/app.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
    }
    // The limit is on all the same: anonymous API calls spend it.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let reply = app.send(Method::GET, "/api/v1/devices", None, None).await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn the_request_journal_keeps_api_requests_but_not_the_console_files() {
    let app = spawn_app().await;

    for path in ["/", "/console", "/console/app.js"] {
        app.client.get(app.url(path)).send().await.unwrap();
    }
    app.send(Method::GET, "/healthz", None, None).await;

    let paths: Vec<String> = app.server.requests().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["/healthz"]);
}
