//! More of the hardening: bootstrap answers no question about other orgs' devices and
//! looks a key up before refusing its kind, a model version's URLs are web URLs, and the
//! journal redacts a credential wherever it appears.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};

const BOOTSTRAP: &str = "/api/v1/device-auth/bootstrap";

/// Mints a bootstrap token of `uses` uses with the secret key.
async fn mint(app: &TestApp, uses: u32) -> String {
    let reply = app
        .post(
            "/api/v1/device-auth/bootstrap-tokens",
            Some(app.secret_key()),
            json!({"max_uses": uses}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["token"].as_str().unwrap().to_owned()
}

/// What a reply says, with `id` written as `{id}`: its status and message shape.
fn shape(reply: &Reply, id: &str) -> (u16, Value) {
    let body = reply.body.to_string().replace(id, "{id}");
    let mut body: Value = serde_json::from_str(&body).unwrap();
    // Each answer has its own request id.
    body.as_object_mut().map(|o| o.remove("request_id"));
    (reply.status.as_u16(), body)
}

#[tokio::test]
async fn bootstrap_answers_another_orgs_device_uuid_as_a_uuid_no_device_has() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let theirs = app
        .register_device_with(&other.secret_key, json!({"device_id": "theirs"}))
        .await
        .id;
    let nobodys = uuid::Uuid::now_v7().hyphenated().to_string();
    let token = mint(&app, 20).await;
    let ask = |body: Value| app.post(BOOTSTRAP, Some(&token), body);

    let by_theirs = ask(json!({"device_id": theirs})).await;
    let by_nobodys = ask(json!({"device_id": nobodys})).await;
    by_nobodys.assert_error(404, "not_found");
    assert_eq!(shape(&by_theirs, &theirs), shape(&by_nobodys, &nobodys));

    // With an identifier to register by, both register a device of the token's org.
    let theirs_named = ask(json!({"device_id": theirs, "device_identifier": "one"})).await;
    let nobodys_named = ask(json!({"device_id": nobodys, "device_identifier": "two"})).await;
    assert_eq!(nobodys_named.status, 200, "{}", nobodys_named.body);
    assert_eq!(theirs_named.status, 200, "{}", theirs_named.body);
    assert_eq!(theirs_named.body["org_id"], "org_demo");
    assert_ne!(theirs_named.body["id"], theirs.as_str());

    for uuid in [&theirs, &nobodys] {
        let as_identifier = ask(json!({"device_identifier": uuid})).await;
        assert_eq!(as_identifier.status, 200, "{}", as_identifier.body);
        assert_ne!(as_identifier.body["id"], theirs.as_str());
    }
    // Their device is untouched and still theirs.
    let still = app.get_device(Some(&other.secret_key), &theirs).await;
    assert_eq!(still.status, 200, "{}", still.body);
}

#[tokio::test]
async fn bootstrap_answers_a_made_up_key_401_and_a_valid_key_of_another_kind_403() {
    let app = spawn_app().await;
    let device = app.register_device("kind-check").await;
    let body = json!({"device_identifier": "x"}).to_string();
    let made_up = |prefix: &str| format!("{prefix}{}", "Zq7".repeat(11));
    for key in [
        made_up("edg_live_"),
        made_up("oct_pub_live_"),
        made_up("edg_dev_"),
    ] {
        app.send(Method::POST, BOOTSTRAP, Some(&key), Some(&body))
            .await
            .assert_error(401, "unauthorized");
        let by_header = reqwest::Client::new()
            .post(app.url(BOOTSTRAP))
            .header("x-api-key", &key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        crate::helpers::read(by_header)
            .await
            .assert_error(401, "unauthorized");
    }
    for key in [app.secret_key(), app.publishable_key(), device.key.as_str()] {
        let refused = app
            .send(Method::POST, BOOTSTRAP, Some(key), Some(&body))
            .await;
        assert!(
            refused
                .assert_error(403, "forbidden")
                .contains("bootstrap token")
        );
    }
}

const SHA: &str = "abababababababababababababababababababababababababababababababab";

#[tokio::test]
async fn a_model_version_takes_only_http_and_https_download_urls() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/models",
            Some(app.secret_key()),
            json!({"model_id": "m"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let add = |version: &str, download_url: &str, files: Value| {
        app.post(
            "/api/v1/models/m/versions",
            Some(app.secret_key()),
            json!({"version": version, "format": "onnx", "total_bytes": 1, "sha256": SHA,
                   "download_url": download_url, "files": files}),
        )
    };
    let file =
        |url: &str| json!([{"path": "a.onnx", "size": 1, "sha256": SHA, "download_url": url}]);
    let bad = [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://example.com/m.onnx",
        "data:text/plain,hi",
        "/relative/m.onnx",
        "example.com/m.onnx",
        "https://",
        "https:///no-host",
    ];
    for (i, url) in bad.iter().enumerate() {
        let reply = add(&format!("bad-{i}"), url, json!([])).await;
        let message = reply.assert_error(400, "bad_request");
        assert!(message.contains("download_url"), "{url}: {message}");
        let reply = add(
            &format!("bad-file-{i}"),
            "https://cdn.example.com/m",
            file(url),
        )
        .await;
        let message = reply.assert_error(400, "bad_request");
        assert!(
            message.contains("files[0].download_url"),
            "{url}: {message}"
        );
    }
    assert_eq!(app.count_rows("model_versions"), 0, "nothing is stored");
    for (i, url) in [
        "https://cdn.example.com/m.onnx",
        "HTTP://10.0.0.1:8080/m?x=1",
    ]
    .iter()
    .enumerate()
    {
        let reply = add(&format!("good-{i}"), url, file(url)).await;
        assert_eq!(reply.status, 201, "{url}: {}", reply.body);
        assert_eq!(reply.body["download_url"], *url);
        assert_eq!(reply.body["files"][0]["download_url"], *url);
    }
}

#[tokio::test]
async fn the_journal_redacts_credentials_anywhere_in_bodies_paths_and_queries_and_at_the_cut() {
    let app = spawn_app().await;
    let body_chars = "Q9w8E7r6T5y4U3i2O1p0AaSsDdFfGgHh";
    let prefixes = [
        "edg_live_",
        "oct_pub_live_",
        "edg_dev_",
        "edg_at_",
        "edg_rt_",
        "edg_bt_",
    ];
    let keys: Vec<String> = prefixes
        .iter()
        .map(|p| format!("{p}{body_chars}"))
        .collect();
    let json_body = json!({
        "note": format!("Bearer {} was sent", keys[0]),
        "list": [format!("key={}&x", keys[1])],
        keys[2].clone(): "as a member name",
        "glued": format!("abc{}", keys[3]),
    });
    app.send(
        Method::POST,
        "/api/v1/nothing",
        None,
        Some(&json_body.to_string()),
    )
    .await;
    app.send(
        Method::GET,
        &format!("/api/v1/devices/{}?q=x{}", keys[4], keys[5]),
        None,
        None,
    )
    .await;
    let text = format!("plain text; {} and more", keys[0]);
    app.send(Method::POST, "/api/v1/nothing", None, Some(&text))
        .await;
    // A body cut at the journal's limit in the middle of a key: ten of its body
    // characters are before the limit, and more text after the key.
    let limit = devreg::journal::MAX_BODY_CHARS;
    let long = format!(
        "{}{} {}",
        "x".repeat(limit - "edg_live_".len() - 10),
        keys[0],
        "y".repeat(1000)
    );
    app.send(Method::POST, "/api/v1/nothing", None, Some(&long))
        .await;

    let page = app.send(Method::GET, "/_devreg/requests", None, None).await;
    let requests = page.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 4, "{}", page.body);
    let journaled = page.body.to_string();
    for (prefix, key) in prefixes.iter().zip(&keys) {
        // What the journal shows of a key: its prefix and six characters.
        let seventh = &key[..prefix.len() + 7];
        assert!(
            !journaled.contains(seventh),
            "{key} is redacted everywhere: {journaled:.2000}"
        );
        assert!(journaled.contains(&format!("{}…", &key[..prefix.len() + 6])));
    }
    assert!(
        requests[1]["path"]
            .as_str()
            .unwrap()
            .starts_with("/api/v1/devices/edg_rt_Q9w8E7…")
    );
    let cut = requests[3]["request_body"].as_str().unwrap();
    assert!(cut.contains("bytes in all"), "the long body is cut");
}
