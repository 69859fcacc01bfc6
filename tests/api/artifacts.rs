//! Hosted model files (issue 26): publishing through the upload URL, the upload and the
//! confirmation; downloading with keys and signed URLs, ranges and ETags; and every
//! refusal, each changing nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Reply, TestApp, read, spawn_app, spawn_app_with};

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bytes that differ at every offset a range test looks at.
pub(crate) fn model_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// Starts an upload of `filename` for `model`; answers the ticket.
pub(crate) async fn start_upload(app: &TestApp, model: &str, filename: &str) -> Value {
    let reply = app
        .post(
            &format!("/api/v1/models/{model}/versions/upload-url"),
            Some(app.secret_key()),
            json!({"version": "1.0.0", "filename": filename}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// PUTs `bytes` to `url` with no key.
pub(crate) async fn put(app: &TestApp, url: &str, bytes: Vec<u8>) -> Reply {
    read(app.client.put(url).body(bytes).send().await.unwrap()).await
}

/// Confirms one upload as version `version` of `model`.
async fn confirm(app: &TestApp, model: &str, body: Value) -> Reply {
    app.post(
        &format!("/api/v1/models/{model}/versions/confirm-upload"),
        Some(app.secret_key()),
        body,
    )
    .await
}

/// Publishes `bytes` as `model.onnx` of version `version` of `model`; answers the version.
pub(crate) async fn publish(app: &TestApp, model: &str, version: &str, bytes: &[u8]) -> Value {
    publish_in(app, app.secret_key(), model, version, bytes).await
}

/// [`publish`] in the org of secret key `key`.
pub(crate) async fn publish_in(
    app: &TestApp,
    key: &str,
    model: &str,
    version: &str,
    bytes: &[u8],
) -> Value {
    let ticket = app
        .post(
            &format!("/api/v1/models/{model}/versions/upload-url"),
            Some(key),
            json!({"filename": "model.onnx"}),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    let ticket = ticket.body;
    let put = put(app, ticket["upload_url"].as_str().unwrap(), bytes.to_vec()).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let reply = app
        .post(
            &format!("/api/v1/models/{model}/versions/confirm-upload"),
            Some(key),
            json!({"version": version, "storage_key": ticket["storage_key"],
                "file_size": bytes.len(), "sha256": sha256_hex(bytes)}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// The download-url answer for a version.
async fn download_url(app: &TestApp, model: &str, version: &str) -> Value {
    let reply = app
        .get(
            &format!("/api/v1/models/{model}/versions/{version}/download-url"),
            Some(app.publishable_key()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// `method` `url` with `headers`: status, headers and body bytes.
pub(crate) async fn fetch(
    app: &TestApp,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = app.client.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_published_version_downloads_whole_through_its_signed_url_with_the_digest_as_etag() {
    let app = spawn_app().await;
    let bytes = model_bytes(300_000);
    let digest = sha256_hex(&bytes);

    let version = publish(&app, "kbd", "1.0.0", &bytes).await;

    assert_eq!(version["sha256"], digest);
    assert_eq!(version["total_bytes"], 300_000);
    assert_eq!(version["format"], "onnx");
    assert_eq!(
        version["files"],
        json!([{"path": "model.onnx", "size": 300_000, "sha256": digest}])
    );
    let info = download_url(&app, "kbd", "1.0.0").await;
    assert_eq!(info["checksum"], digest);
    assert_eq!(info["file_size"], 300_000);
    assert_eq!(info["hosted"], true);
    let (status, headers, body) =
        fetch(&app, Method::GET, info["url"].as_str().unwrap(), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);
    assert_eq!(headers["etag"], format!("\"{digest}\"").as_str());
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(headers["content-length"], "300000");
}

#[tokio::test]
async fn ranges_are_served_as_206_and_a_range_past_the_end_is_416() {
    let app = spawn_app().await;
    let bytes = model_bytes(10_000);
    publish(&app, "kbd", "1.0.0", &bytes).await;
    let url = download_url(&app, "kbd", "1.0.0").await["url"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, headers, body) =
        fetch(&app, Method::GET, &url, &[("range", "bytes=100-199")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[100..200]);
    assert_eq!(headers["content-range"], "bytes 100-199/10000");

    let (status, _, body) = fetch(&app, Method::GET, &url, &[("range", "bytes=9000-")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[9000..]);

    let (status, _, body) = fetch(&app, Method::GET, &url, &[("range", "bytes=-10")]).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[9990..]);

    let reply = read(
        app.client
            .get(&url)
            .header("range", "bytes=10000-")
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert_error(416, "range_not_satisfiable");
    assert_eq!(reply.header("content-range"), Some("bytes */10000"));
}

#[tokio::test]
async fn etags_answer_if_none_match_with_304_and_a_stale_if_range_with_the_whole_file() {
    let app = spawn_app().await;
    let bytes = model_bytes(5_000);
    let digest = sha256_hex(&bytes);
    publish(&app, "kbd", "1.0.0", &bytes).await;
    let url = download_url(&app, "kbd", "1.0.0").await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let etag = format!("\"{digest}\"");

    let (status, _, body) = fetch(&app, Method::GET, &url, &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());

    let (status, _, body) = fetch(
        &app,
        Method::GET,
        &url,
        &[("range", "bytes=0-9"), ("if-range", "\"not-the-digest\"")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);

    let (status, _, body) = fetch(
        &app,
        Method::GET,
        &url,
        &[("range", "bytes=0-9"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &bytes[..10]);
}

#[tokio::test]
async fn head_answers_the_size_and_etag_without_a_body() {
    let app = spawn_app().await;
    let bytes = model_bytes(4_321);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let url = app.url(&format!(
        "/api/v1/artifacts/{}/files/model.onnx",
        version["artifact_id"].as_str().unwrap()
    ));

    let response = app
        .client
        .head(&url)
        .bearer_auth(app.secret_key())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], "4321");
    assert_eq!(
        response.headers()["etag"],
        format!("\"{}\"", sha256_hex(&bytes)).as_str()
    );
    assert!(response.bytes().await.unwrap().is_empty());
    // HEAD reaches its own handler, which reads nothing from storage.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("devreg_artifact_bytes_served_total 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_key_of_the_org_downloads_without_a_signature_and_another_orgs_key_gets_404() {
    let app = spawn_app().await;
    let bytes = model_bytes(1_000);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let path = format!(
        "/api/v1/artifacts/{}/files/model.onnx",
        version["artifact_id"].as_str().unwrap()
    );
    let device = app.register_device("phone-1").await;
    let other = app.create_org("other");

    let (status, _, body) = fetch(
        &app,
        Method::GET,
        &app.url(&path),
        &[("authorization", &format!("Bearer {}", device.key))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);

    app.get(&path, Some(&other.secret_key))
        .await
        .assert_error(404, "not_found");
    app.get(
        "/api/v1/models/kbd/versions/1.0.0/download-url",
        Some(&other.secret_key),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn an_unsigned_a_changed_an_other_org_and_an_expired_url_are_403_naming_why() {
    let app = spawn_app().await;
    publish(&app, "kbd", "1.0.0", &model_bytes(1_000)).await;
    let url = download_url(&app, "kbd", "1.0.0").await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let unsigned = url.split('?').next().unwrap().to_owned();
    let changed = url.replace("signature=", "signature=0");
    let other_org = url.replace("org=org_demo", "org=org_other");

    let message = read(app.client.get(&unsigned).send().await.unwrap())
        .await
        .assert_error(403, "forbidden")
        .to_owned();
    assert!(message.contains("not signed"), "{message}");
    let message = read(app.client.get(&changed).send().await.unwrap())
        .await
        .assert_error(403, "forbidden")
        .to_owned();
    assert!(message.contains("does not match"), "{message}");
    let message = read(app.client.get(&other_org).send().await.unwrap())
        .await
        .assert_error(403, "forbidden")
        .to_owned();
    assert!(message.contains("another org"), "{message}");

    app.server.advance_clock(3601);
    let message = read(app.client.get(&url).send().await.unwrap())
        .await
        .assert_error(403, "forbidden")
        .to_owned();
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test]
async fn a_digest_or_size_mismatch_is_400_and_keeps_nothing() {
    let app = spawn_app().await;
    let bytes = model_bytes(2_000);
    for (field, value) in [
        ("sha256", json!(sha256_hex(b"other bytes"))),
        ("file_size", json!(1_999)),
    ] {
        let ticket = start_upload(&app, "kbd", "model.onnx").await;
        put(&app, ticket["upload_url"].as_str().unwrap(), bytes.clone()).await;
        let mut body = json!({"version": "1.0.0", "storage_key": ticket["storage_key"],
            "file_size": 2_000});
        body[field] = value;

        let message = confirm(&app, "kbd", body)
            .await
            .assert_error(400, "bad_request")
            .to_owned();

        assert!(message.contains("nothing was published"), "{message}");
        assert_eq!(app.count_rows("artifact_uploads"), 0, "{field}");
        assert_eq!(app.count_rows("model_versions"), 0, "{field}");
        app.get(
            "/api/v1/models/kbd/versions/1.0.0/download-url",
            Some(app.secret_key()),
        )
        .await
        .assert_error(404, "not_found");
    }
}

#[tokio::test]
async fn a_dropped_upload_resumes_at_the_offset_received_and_a_wrong_offset_is_409() {
    let app = spawn_app().await;
    let bytes = model_bytes(100_000);
    let ticket = start_upload(&app, "kbd", "model.onnx").await;
    let url = ticket["upload_url"].as_str().unwrap().to_owned();

    let first = put(&app, &url, bytes[..40_000].to_vec()).await;
    assert_eq!(first.body["received_bytes"], 40_000);
    let progress = read(app.client.get(&url).send().await.unwrap()).await;
    assert_eq!(progress.body["received_bytes"], 40_000);
    put(
        &app,
        &format!("{url}&offset=30000"),
        bytes[30_000..].to_vec(),
    )
    .await
    .assert_error(409, "conflict");
    let rest = put(
        &app,
        &format!("{url}&offset=40000"),
        bytes[40_000..].to_vec(),
    )
    .await;
    assert_eq!(rest.body["received_bytes"], 100_000);
    let reply = confirm(
        &app,
        "kbd",
        json!({"version": "1.0.0", "storage_key": ticket["storage_key"], "file_size": 100_000,
            "sha256": sha256_hex(&bytes)}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let url = download_url(&app, "kbd", "1.0.0").await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(fetch(&app, Method::GET, &url, &[]).await.2, bytes);
}

#[tokio::test]
async fn an_upload_over_the_size_limit_is_413_and_over_the_quota_507_both_removed() {
    let app = spawn_app_with(|c| c.artifact_max_bytes = 100_000).await;
    let ticket = start_upload(&app, "kbd", "big.onnx").await;
    let url = ticket["upload_url"].as_str().unwrap().to_owned();
    let message = put(&app, &url, model_bytes(100_001))
        .await
        .assert_error(413, "payload_too_large")
        .to_owned();
    assert!(message.contains("--artifact-max-bytes"), "{message}");
    let progress = read(app.client.get(&url).send().await.unwrap()).await;
    assert_eq!(progress.body["received_bytes"], 0);

    let app = spawn_app_with(|c| c.artifact_quota_bytes = 150_000).await;
    publish(&app, "kbd", "1.0.0", &model_bytes(100_000)).await;
    let ticket = start_upload(&app, "kbd", "big.onnx").await;
    let url = ticket["upload_url"].as_str().unwrap().to_owned();
    let message = put(&app, &url, model_bytes(60_000))
        .await
        .assert_error(507, "insufficient_storage")
        .to_owned();
    assert!(message.contains("quota of 150000 bytes"), "{message}");
    let progress = read(app.client.get(&url).send().await.unwrap()).await;
    assert_eq!(progress.body["received_bytes"], 0);
}

#[tokio::test]
async fn an_upload_body_is_not_held_to_the_64_kib_json_limit() {
    let app = spawn_app().await;
    let bytes = model_bytes(3 * 1024 * 1024);

    let version = publish(&app, "kbd", "1.0.0", &bytes).await;

    assert_eq!(version["total_bytes"], 3 * 1024 * 1024);
    let big_json = json!({"version": "x".repeat(70_000), "filename": "model.onnx"});
    app.post(
        "/api/v1/models/kbd/versions/upload-url",
        Some(app.secret_key()),
        big_json,
    )
    .await
    .assert_error(413, "payload_too_large");
}

#[tokio::test]
async fn paths_that_escape_the_version_are_400() {
    let app = spawn_app().await;
    let ticket = start_upload(&app, "kbd", "model.onnx").await;
    put(
        &app,
        ticket["upload_url"].as_str().unwrap(),
        model_bytes(10),
    )
    .await;

    for path in ["../model.onnx", "/etc/passwd", "a\u{1}b"] {
        let reply = confirm(
            &app,
            "kbd",
            json!({"version": "1.0.0", "files": [{"storage_key": ticket["storage_key"],
                "path": path, "size": 10}]}),
        )
        .await;
        reply.assert_error(400, "bad_request");
    }
    app.post(
        "/api/v1/models/kbd/versions/upload-url",
        Some(app.secret_key()),
        json!({"filename": "../x.onnx"}),
    )
    .await
    .assert_error(400, "bad_request");
    app.get(
        "/api/v1/artifacts/art_x/files/a%01b",
        Some(app.secret_key()),
    )
    .await
    .assert_error(400, "bad_request");
    assert_eq!(app.count_rows("model_versions"), 0);
}

#[tokio::test]
async fn confirming_an_upload_with_no_bytes_is_409_and_an_unknown_one_404() {
    let app = spawn_app().await;
    let ticket = start_upload(&app, "kbd", "model.onnx").await;

    confirm(
        &app,
        "kbd",
        json!({"version": "1.0.0", "storage_key": ticket["storage_key"], "file_size": 10}),
    )
    .await
    .assert_error(409, "conflict");
    confirm(
        &app,
        "kbd",
        json!({"version": "1.0.0", "storage_key": "upl_nothing", "file_size": 10}),
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(app.count_rows("model_versions"), 0);
}

#[tokio::test]
async fn a_version_published_twice_is_409_and_the_first_stays() {
    let app = spawn_app().await;
    let first = model_bytes(1_000);
    publish(&app, "kbd", "1.0.0", &first).await;
    let ticket = start_upload(&app, "kbd", "model.onnx").await;
    put(
        &app,
        ticket["upload_url"].as_str().unwrap(),
        model_bytes(10),
    )
    .await;

    confirm(
        &app,
        "kbd",
        json!({"version": "1.0.0", "storage_key": ticket["storage_key"], "file_size": 10}),
    )
    .await
    .assert_error(409, "conflict");

    assert_eq!(
        download_url(&app, "kbd", "1.0.0").await["checksum"],
        sha256_hex(&first)
    );
}

#[tokio::test]
async fn metrics_count_bytes_stored_uploaded_and_served() {
    let app = spawn_app().await;
    let bytes = model_bytes(12_345);
    publish(&app, "kbd", "1.0.0", &bytes).await;
    let url = download_url(&app, "kbd", "1.0.0").await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    fetch(&app, Method::GET, &url, &[]).await;

    let metrics = app.metrics().await;

    assert!(
        metrics.contains("devreg_artifact_bytes_stored 12345"),
        "{metrics}"
    );
    assert!(
        metrics.contains("devreg_artifact_bytes_uploaded_total 12345"),
        "{metrics}"
    );
    assert!(
        metrics.contains("devreg_artifact_bytes_served_total 12345"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_deployed_hosted_version_points_the_device_at_devreg_signed_urls() {
    let app = spawn_app().await;
    let bytes = model_bytes(2_048);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let device = app.register_device("phone-1").await;
    app.deploy("kbd", "1.0.0", json!({})).await;

    let desired = app
        .get(
            &format!("/api/v1/devices/{}/desired-state", device.id),
            Some(&device.key),
        )
        .await;

    assert_eq!(desired.status, StatusCode::OK, "{}", desired.body);
    let camel = &desired.body["models"][0]["artifactManifest"];
    let snake = &desired.body["models"][0]["artifact_manifest"];
    let url = camel["downloadUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&app.url(&format!(
            "/api/v1/artifacts/{}/files/model.onnx?",
            version["artifact_id"].as_str().unwrap()
        ))),
        "{url}"
    );
    assert_eq!(snake["download_url"], url);
    assert_eq!(camel["sha256"], sha256_hex(&bytes));
    assert_eq!(camel["totalBytes"], 2_048);
    assert_eq!(camel["files"][0]["download_url"], url);
    let (status, _, body) = fetch(&app, Method::GET, url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);
}

/// iOS's newer `ArtifactReconciler` (octomil-ios 1166f3e, Sync/ArtifactReconciler.swift
/// 71-72, 190-262) reads `GET /api/v1/devices/{id}/desired-state` (Control/ControlSync.swift
/// `fetchDesiredState`) as `DesiredStateResponse{device_id, desired_state_version, models,
/// gc_eligible_artifact_ids}`, each model a flat `DesiredModelEntry` whose fields are all
/// required (Sync/DesiredStateTypes.swift f64651c, 18-37: `model_id, model_version,
/// artifact_version, artifact_id, download_url, checksum, file_size, activation_policy` of
/// `immediate|next_launch|manual|when_idle`); it GETs `download_url` with
/// `URLSession.shared` (no Authorization) and compares the lowercase hex SHA-256 of the
/// bytes with `checksum`.
#[tokio::test]
async fn ios_reconciler_reads_the_flat_desired_entry_and_downloads_what_its_checksum_names() {
    let app = spawn_app().await;
    let bytes = model_bytes(3_000);
    let version = publish(&app, "kbd", "2.0.0", &bytes).await;
    let device = app.register_device("iphone-flat").await;
    app.deploy("kbd", "2.0.0", json!({})).await;

    let desired = read(
        app.client
            .get(app.url(&format!("/api/v1/devices/{}/desired-state", device.id)))
            .bearer_auth(&device.key)
            .header("user-agent", "octomil-ios/1.4.0")
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(desired.status, StatusCode::OK, "{}", desired.body);
    assert_eq!(desired.body["device_id"], device.id.as_str());
    assert!(desired.body["desired_state_version"].is_i64());
    assert_eq!(desired.body["gc_eligible_artifact_ids"], json!([]));
    let entry = &desired.body["models"][0];
    assert_eq!(entry["model_id"], "kbd");
    assert_eq!(entry["model_version"], "2.0.0");
    assert_eq!(entry["artifact_version"], "2.0.0");
    assert_eq!(entry["artifact_id"], version["artifact_id"]);
    assert_eq!(entry["checksum"], sha256_hex(&bytes));
    assert_eq!(entry["file_size"], 3_000);
    assert_eq!(entry["activation_policy"], "immediate");
    let url = entry["download_url"].as_str().unwrap();
    let (status, _, body) = fetch(&app, Method::GET, url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha256_hex(&body), entry["checksum"].as_str().unwrap());
    assert_eq!(body.len() as i64, entry["file_size"].as_i64().unwrap());
}

/// Android's path to a hosted version: it registers with the publishable key and goes on
/// with the access token it gets (Bearer and `X-Org-Id` on every call, its interceptor's),
/// reads `GET /devices/{id}/desired-state` with its required snake_case fields
/// (../shared/SDK-PROTOCOL.md, the desired-state row: `device_id, generated_at`, entries
/// `model_id, desired_version, artifact_manifest{artifact_id, model_id, version, format,
/// total_bytes}`), downloads the manifest's `download_url` with those same headers and
/// checks the bytes' SHA-256 against the manifest's `sha256` and their count against
/// `total_bytes`. (No Android SDK source is in the code index beyond its DTOs, so the
/// download is replayed as its DTOs and interceptor describe it.)
#[tokio::test]
async fn android_downloads_a_hosted_version_from_its_desired_state_manifest() {
    let app = spawn_app().await;
    let bytes = model_bytes(4_321);
    publish(&app, "kbd", "3.0.0", &bytes).await;
    app.deploy("kbd", "3.0.0", json!({})).await;
    let org = app.server.org_id().to_owned();
    let registered = read(
        app.client
            .post(app.url("/api/v1/devices/register"))
            .bearer_auth(app.publishable_key())
            .header("x-org-id", &org)
            .header("user-agent", "okhttp/4.12.0")
            .json(&json!({"device_identifier": "pixel-9", "org_id": org,
                "platform": "android", "os_version": "15", "sdk_version": "1.0.0"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let id = registered.body["id"].as_str().unwrap().to_owned();
    let bearer = format!(
        "Bearer {}",
        registered.body["access_token"].as_str().unwrap()
    );
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-org-id", org.as_str()),
        ("user-agent", "okhttp/4.12.0"),
    ];

    let (status, _, body) = fetch(
        &app,
        Method::GET,
        &app.url(&format!("/api/v1/devices/{id}/desired-state")),
        &headers,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let desired: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(desired["device_id"], id.as_str());
    assert!(desired["generated_at"].is_string());
    let entry = &desired["models"][0];
    assert_eq!(entry["model_id"], "kbd");
    assert_eq!(entry["desired_version"], "3.0.0");
    let manifest = &entry["artifact_manifest"];
    assert!(manifest["artifact_id"].is_string());
    assert_eq!(manifest["model_id"], "kbd");
    assert_eq!(manifest["version"], "3.0.0");
    assert!(manifest["format"].is_string());
    assert_eq!(manifest["total_bytes"], 4_321);
    let url = manifest["download_url"].as_str().unwrap();
    let (status, _, file) = fetch(&app, Method::GET, url, &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha256_hex(&file), manifest["sha256"].as_str().unwrap());
    assert_eq!(file.len() as i64, manifest["total_bytes"].as_i64().unwrap());
}

#[test]
fn model_push_publishes_files_into_the_artifact_directory_and_refuses_an_unknown_org() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("devreg.db");
    let db = db.to_str().unwrap();
    let devreg = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_devreg"))
            .args(args)
            .env_remove("DEVREG_DB")
            .env_remove("DEVREG_ARTIFACTS")
            .output()
            .unwrap()
    };
    assert!(
        devreg(&["org", "create", "acme", "--db", db, "--create"])
            .status
            .success()
    );
    let model = dir.path().join("kbd.onnx");
    let bytes = model_bytes(2_500_000);
    std::fs::write(&model, &bytes).unwrap();
    let model = model.to_str().unwrap();

    let pushed = devreg(&[
        "model",
        "push",
        model,
        "--model",
        "kbd",
        "--version",
        "1.0.0",
        "--org",
        "acme",
        "--db",
        db,
        "--quiet",
    ]);
    let unknown = devreg(&[
        "model",
        "push",
        model,
        "--model",
        "kbd",
        "--version",
        "2.0.0",
        "--org",
        "nobody",
        "--db",
        db,
    ]);

    assert!(pushed.status.success(), "{pushed:?}");
    let digest = sha256_hex(&bytes);
    assert!(String::from_utf8_lossy(&pushed.stdout).contains(&digest));
    let blob = dir
        .path()
        .join("devreg-artifacts/blobs")
        .join(&digest[..2])
        .join(&digest);
    assert_eq!(std::fs::read(blob).unwrap(), bytes);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no org \"nobody\""));
}

/// iOS's ArtifactReconciler: the manifest (Control/ControlSync.swift 342-344, decoded as
/// Sync/DesiredStateTypes.swift 72-102: `artifact_id, model_id, version, total_bytes,
/// files[{path, size_bytes, sha256}]`), then `POST download-urls` with `{files: [path]}`
/// (ControlSync.swift 347-350; DesiredStateTypes.swift 104-124 reads `artifact_id,
/// urls[{path, url}]`), then a GET of each url with no Authorization (URLSession.shared),
/// checked against the manifest's sha256 (Sync/ArtifactReconciler.swift 250-321).
#[tokio::test]
async fn ios_reads_the_snake_case_manifest_and_fetches_each_file_by_its_signed_url() {
    let app = spawn_app().await;
    let bytes = model_bytes(9_000);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let artifact = version["artifact_id"].as_str().unwrap();
    let device = app.register_device("iphone-1").await;

    let manifest = read(
        app.client
            .get(app.url(&format!("/api/v1/artifacts/{artifact}/manifest")))
            .bearer_auth(&device.key)
            .header("user-agent", "octomil-ios/1.4.0")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(manifest.status, StatusCode::OK, "{}", manifest.body);
    assert_eq!(
        manifest.body,
        json!({"artifact_id": artifact, "model_id": "kbd", "version": "1.0.0",
            "total_bytes": 9_000,
            "files": [{"path": "model.onnx", "size_bytes": 9_000, "sha256": sha256_hex(&bytes)}]})
    );
    let urls = app
        .post(
            &format!("/api/v1/artifacts/{artifact}/download-urls"),
            Some(&device.key),
            json!({"files": ["model.onnx"]}),
        )
        .await;
    assert_eq!(urls.status, StatusCode::OK, "{}", urls.body);
    assert_eq!(urls.body["artifact_id"], artifact);
    assert_eq!(urls.body["urls"][0]["path"], "model.onnx");
    let url = urls.body["urls"][0]["url"].as_str().unwrap();
    let (status, _, body) = fetch(&app, Method::GET, url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha256_hex(&body), manifest.body["files"][0]["sha256"]);
}

/// The Python generated client's manifest (_generated/types.py 1511-1568, `extra="forbid"`):
/// exactly `artifactId, modelId, version, format, totalBytes, sha256, chunks[{index,
/// offset, size, sha256}]`, chunks of 8 MiB (device_agent/loops/artifact_downloader.py 21);
/// a file of one chunk has the file's digest as the chunk's.
#[tokio::test]
async fn other_callers_read_the_camel_case_manifest_with_its_chunks() {
    let app = spawn_app().await;
    let bytes = model_bytes(5_000);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let artifact = version["artifact_id"].as_str().unwrap();

    let manifest = app
        .get(
            &format!("/api/v1/artifacts/{artifact}/manifest"),
            Some(app.secret_key()),
        )
        .await;

    let digest = sha256_hex(&bytes);
    assert_eq!(
        manifest.body,
        json!({"artifactId": artifact, "modelId": "kbd", "version": "1.0.0", "format": "onnx",
            "totalBytes": 5_000, "sha256": digest,
            "chunks": [{"index": 0, "offset": 0, "size": 5_000, "sha256": digest}]})
    );
    app.get(
        &format!("/api/v1/artifacts/{artifact}/manifest"),
        Some(&app.create_org("other").secret_key),
    )
    .await
    .assert_error(404, "not_found");
}

/// The registry's reads (issue 26 part B) give a hosted version devreg's own signed URL,
/// the one the device can fetch without a key, rather than the empty `download_url` a
/// hosted version's manifest carries.
#[tokio::test]
async fn registry_reads_of_a_hosted_version_give_a_signed_url_that_downloads_it() {
    let app = spawn_app().await;
    let bytes = model_bytes(3_000);
    publish(&app, "kbd", "1.0.0", &bytes).await;
    let key = app.secret_key().to_owned();
    let reads = [
        (
            "GET",
            "/api/v1/models/kbd/versions/1.0.0",
            None,
            "/download_url",
        ),
        (
            "GET",
            "/api/v1/models/kbd/versions/latest",
            None,
            "/download_url",
        ),
        (
            "GET",
            "/api/v1/models/kbd/versions",
            None,
            "/versions/0/download_url",
        ),
        ("GET", "/api/v1/registry/resolve/kbd:1.0.0", None, "/url"),
        (
            "POST",
            "/api/v1/models/kbd/versions/1.0.0/resolve",
            Some(json!({"platform": "ios"})),
            "/download_url",
        ),
        (
            "POST",
            "/api/v1/registry/pull",
            Some(json!({"name": "kbd", "tag": "1.0.0", "format": "onnx"})),
            "/download_url",
        ),
    ];
    for (method, path, body, pointer) in reads {
        let reply = match body {
            None => app.get(path, Some(&key)).await,
            Some(body) => app.post(path, Some(&key), body).await,
        };
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{method} {path}: {}",
            reply.body
        );
        let url = reply.body.pointer(pointer).and_then(Value::as_str);
        let url = url.unwrap_or_else(|| panic!("{method} {path}: no {pointer} in {}", reply.body));
        assert!(url.contains("signature="), "{method} {path}: {url}");
        let (status, _, got) = fetch(&app, Method::GET, url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {url}");
        assert_eq!(got, bytes, "{method} {path}");
    }
}
