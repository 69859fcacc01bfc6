//! The own-device rule on every route whose path names a device: the device's identifier
//! in either Unicode spelling (registered in NFC, named in NFD) reaches it with a
//! credential that may act on it, and another device's credential (or another org's key)
//! is a 404, as if the device did not exist. The routes come from the route table, so a
//! new `{device_id}` route is checked without a change here.

use devreg::auth::Allow;
use devreg::domain::Target;
use devreg::routes::ROUTES;
use reqwest::Method;
use unicode_normalization::UnicodeNormalization;

use crate::helpers::{Device, TestApp, spawn_app};

/// Registers a fresh device whose identifier is not ASCII, in NFC, and returns it with
/// the identifier's NFD spelling. Fresh for every call: the call may delete or re-key it.
async fn fresh_device(app: &TestApp, n: usize) -> (Device, String) {
    let nfc = format!("caf\u{e9}-\u{fc}-{n}");
    let nfd: String = nfc.nfd().collect();
    assert_ne!(nfc, nfd, "the two spellings differ");
    (app.register_device(&nfc).await, nfd)
}

/// The model every `{model_id}` of a device path names.
const SCOPE_MODEL: &str = "scope-model";

/// The status of `method pattern` on the device `named`, with `key`; a body of `{}` for
/// the methods that take one.
async fn status_of(app: &TestApp, method: &str, pattern: &str, named: &str, key: &str) -> u16 {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut path = pattern.replace("{device_id}", named);
    if path.contains("{job_id}") {
        // A training job is a round the device may see (issue 27).
        let round = app.start_round_ok(serde_json::json!({})).await;
        path = path.replace("{job_id}", &round.id);
    }
    // A model the test stages, for the routes that also name one (issue 26's registry).
    let path = path.replace("{model_id}", SCOPE_MODEL);
    let body = [Method::POST, Method::PUT, Method::PATCH]
        .contains(&method)
        .then_some("{}");
    app.send(method, &path, Some(key), body)
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn every_device_path_takes_either_spelling_and_hides_the_device_from_other_credentials() {
    let app = spawn_app().await;
    let other_org = app.create_org("org_elsewhere");
    app.add_model_version(SCOPE_MODEL, "1.0.0").await;
    let routes: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.access.target == Target::PathDevice)
        .collect();
    assert!(
        routes
            .iter()
            .any(|r| r.method == "get" && r.path == "/api/v1/devices/{device_id}"),
        "the route table's device routes: {routes:?}"
    );
    let mut n = 0;
    for route in routes {
        let allows = |allow: Allow| route.access.allows.contains(&allow);
        // Each kind of credential that may act on a device: the device's own, its org's.
        let mut kinds = Vec::new();
        if allows(Allow::Device) {
            kinds.push("device");
        }
        if allows(Allow::Secret) {
            kinds.push("secret");
        }
        if allows(Allow::Publishable) {
            kinds.push("publishable");
        }
        assert!(
            !kinds.is_empty(),
            "{} {} takes some credential",
            route.method,
            route.path
        );
        for kind in kinds {
            n += 1;
            let (device, nfd) = fresh_device(&app, n).await;
            let (own, elsewhere) = match kind {
                "device" => {
                    n += 1;
                    let (other, _) = fresh_device(&app, n).await;
                    (device.key.clone(), other.key)
                }
                "secret" => (app.secret_key().to_owned(), other_org.secret_key.clone()),
                _ => (
                    app.publishable_key().to_owned(),
                    other_org.publishable_key.clone(),
                ),
            };
            let label = format!("{} {} with {kind}", route.method, route.path);
            let status = status_of(&app, route.method, route.path, &nfd, &own).await;
            assert!(
                status != 404 && status != 401 && status != 403 && status < 500,
                "{label}: the device's identifier in NFD with a {kind} key that may act on \
                 it is served, the server answered {status}"
            );

            n += 1;
            let (device, nfd) = fresh_device(&app, n).await;
            let status = status_of(&app, route.method, route.path, &nfd, &elsewhere).await;
            assert_eq!(
                status, 404,
                "{label}: a {kind} key of another device or org finds no device"
            );
            // Nor by its id.
            let status = status_of(&app, route.method, route.path, &device.id, &elsewhere).await;
            assert_eq!(
                status, 404,
                "{label} by id: another credential finds no device"
            );
        }
    }
}
