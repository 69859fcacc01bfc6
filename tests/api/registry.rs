//! The registry the SDKs read (issue 26, item 4) and deleting versions and models (item
//! 6): every route by a model's id and by its name, another org's model as absent, what a
//! device's own key may read, and deletions refused while a deployment uses them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::ARTIFACT_SHA256;
use crate::helpers::{TestApp, spawn_app};

/// Adds model `id` named `name` and its versions, each a second after the last: an ONNX
/// file of 1000 bytes times the version's place whose URL names both.
async fn add_model(app: &TestApp, id: &str, name: &str, versions: &[&str]) {
    let key = Some(app.secret_key());
    let added = app
        .post("/api/v1/models", key, json!({"model_id": id, "name": name}))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    for (i, version) in versions.iter().enumerate() {
        app.server.advance_clock(1);
        let reply = app
            .post(
                &format!("/api/v1/models/{id}/versions"),
                key,
                json!({"version": version, "format": "onnx", "total_bytes": 1000 * (i + 1),
                       "sha256": ARTIFACT_SHA256,
                       "download_url": url(id, version),
                       "files": [{"path": "model.onnx", "size": 1000 * (i + 1),
                                  "sha256": ARTIFACT_SHA256}]}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
}

fn url(model: &str, version: &str) -> String {
    format!("https://cdn.example.com/{model}/{version}/model.onnx")
}

/// An ISO 8601 time with no fractional seconds, as iOS's decoder requires.
fn assert_whole_second_time(value: &Value) {
    let text = value.as_str().expect("a time is a string");
    assert_eq!(text.len(), 20, "{text}");
    assert!(text.ends_with('Z') && !text.contains('.'), "{text}");
}

#[tokio::test]
async fn a_model_reads_by_its_id_and_by_its_name_with_every_field_ios_requires() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    let device = app.register_device("phone").await;

    for reference in ["kbd", "Keyboard"] {
        for key in [app.secret_key(), app.publishable_key(), device.key.as_str()] {
            let reply = app
                .get(&format!("/api/v1/models/{reference}"), Some(key))
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let body = &reply.body;
            assert_eq!(body["id"], "kbd");
            assert_eq!(body["model_id"], "kbd");
            assert_eq!(body["org_id"], "org_demo");
            assert_eq!(body["name"], "Keyboard");
            assert_eq!(body["framework"], "onnx");
            assert_eq!(body["use_case"], "");
            assert_eq!(body["version_count"], 2);
            assert_whole_second_time(&body["created_at"]);
            assert_whole_second_time(&body["updated_at"]);
            assert!(body["updated_at"].as_str() > body["created_at"].as_str());
        }
    }
}

#[tokio::test]
async fn the_model_list_carries_id_beside_model_id() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0"]).await;

    let reply = app
        .get("/api/v1/models?org_id=org_demo", Some(app.secret_key()))
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["models"][0]["id"], "kbd");
    assert_eq!(reply.body["models"][0]["model_id"], "kbd");
    assert_eq!(reply.body["models"][0]["name"], "Keyboard");
}

#[tokio::test]
async fn versions_list_newest_first_a_page_at_a_time_and_filter_by_status() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0", "2.0.0"]).await;
    let key = Some(app.secret_key());

    let all = app.get("/api/v1/models/Keyboard/versions", key).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let names: Vec<&str> = all.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["2.0.0", "1.1.0", "1.0.0"]);
    assert_eq!(all.body["total"], 3);
    assert_eq!(all.body["model_id"], "kbd");

    let page = app
        .get("/api/v1/models/kbd/versions?limit=1&offset=1", key)
        .await;
    assert_eq!(page.body["versions"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["versions"][0]["version"], "1.1.0");
    assert_eq!(page.body["total"], 3);

    let published = app
        .get("/api/v1/models/kbd/versions?status=published", key)
        .await;
    assert_eq!(published.body["versions"].as_array().unwrap().len(), 3);
    let draft = app
        .get("/api/v1/models/kbd/versions?status=draft", key)
        .await;
    assert_eq!(draft.status, StatusCode::OK);
    assert_eq!(draft.body["versions"], json!([]));
    assert_eq!(draft.body["total"], 0);

    let bad = app.get("/api/v1/models/kbd/versions?limit=0", key).await;
    assert!(bad.assert_error(400, "bad_request").contains("limit"));
}

#[tokio::test]
async fn a_version_and_latest_answer_the_manifest_under_both_sets_of_names() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    let device = app.register_device("phone").await;

    let one = app
        .get("/api/v1/models/kbd/versions/1.0.0", Some(&device.key))
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    let body = &one.body;
    assert_eq!(body["model_id"], "kbd");
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["checksum"], ARTIFACT_SHA256);
    assert_eq!(body["sha256"], ARTIFACT_SHA256);
    assert_eq!(body["size_bytes"], 1000);
    assert_eq!(body["file_size"], 1000);
    assert_eq!(body["total_bytes"], 1000);
    assert_eq!(body["format"], "onnx");
    assert_eq!(body["status"], "published");
    assert_eq!(body["download_url"], url("kbd", "1.0.0"));
    assert_eq!(body["files"][0]["path"], "model.onnx");
    assert!(body["description"].is_null() && body["metrics"].is_null());
    assert!(body["model_contract"].is_null());
    assert_whole_second_time(&body["created_at"]);

    let latest = app
        .get(
            "/api/v1/models/Keyboard/versions/latest",
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(latest.status, StatusCode::OK);
    assert_eq!(latest.body["version"], "1.1.0");
    assert_eq!(latest.body["size_bytes"], 2000);

    let missing = app
        .get("/api/v1/models/kbd/versions/9.9.9", Some(app.secret_key()))
        .await;
    assert!(missing.assert_error(404, "not_found").contains("\"9.9.9\""));
}

#[tokio::test]
async fn latest_of_a_model_without_versions_is_a_404() {
    let app = spawn_app().await;
    add_model(&app, "empty", "Empty", &[]).await;

    let reply = app
        .get(
            "/api/v1/models/empty/versions/latest",
            Some(app.secret_key()),
        )
        .await;

    assert!(reply.assert_error(404, "not_found").contains("no version"));
}

#[tokio::test]
async fn another_orgs_model_is_as_absent_as_none_on_every_read() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0"]).await;
    let other = app.create_org("org_other");
    let key = Some(other.secret_key.as_str());

    for path in [
        "/api/v1/models/kbd",
        "/api/v1/models/Keyboard",
        "/api/v1/models/kbd/versions",
        "/api/v1/models/kbd/versions/1.0.0",
        "/api/v1/models/kbd/versions/latest",
        "/api/v1/models/kbd/updates?current_version=0.9",
        "/api/v1/registry/resolve/kbd",
    ] {
        let reply = app.get(path, key).await;
        assert!(
            reply.assert_error(404, "not_found").contains("no model"),
            "{path}: {}",
            reply.body
        );
    }
    let resolve = app
        .post("/api/v1/models/kbd/versions/latest/resolve", key, json!({}))
        .await;
    resolve.assert_error(404, "not_found");
    let pull = app
        .post("/api/v1/registry/pull", key, json!({"name": "kbd"}))
        .await;
    pull.assert_error(404, "not_found");
    let delete = app
        .send(Method::DELETE, "/api/v1/models/kbd", key, None)
        .await;
    delete.assert_error(404, "not_found");
    assert_eq!(app.count_rows("model_versions"), 1);
}

#[tokio::test]
async fn a_name_two_models_share_is_a_409_but_each_id_still_reads() {
    let app = spawn_app().await;
    add_model(&app, "a", "Same", &["1"]).await;
    add_model(&app, "b", "Same", &["1"]).await;

    let reply = app.get("/api/v1/models/Same", Some(app.secret_key())).await;

    assert!(reply.assert_error(409, "conflict").contains("model_id"));
    let by_id = app.get("/api/v1/models/b", Some(app.secret_key())).await;
    assert_eq!(by_id.body["name"], "Same");
}

#[tokio::test]
async fn a_device_resolves_its_deployed_version_else_the_newest() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    let pinned = app.register_device("pinned").await;
    let free = app.register_device("free").await;
    let deployment = app
        .deploy("kbd", "1.0.0", json!({"devices": ["pinned"]}))
        .await;

    let reply = app
        .get(
            &format!(
                "/api/v1/devices/{}/models/Keyboard/version?include_bucket=true",
                pinned.id
            ),
            Some(&pinned.key),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["version"], "1.0.0");
    assert_eq!(reply.body["source"], "deployment");
    assert_eq!(reply.body["deployment_id"], deployment["id"]);
    assert_eq!(reply.body["download_url"], url("kbd", "1.0.0"));
    // iOS decodes rollout_id and device_bucket as integers: null, never a string.
    assert!(reply.body["rollout_id"].is_null());
    assert!(reply.body["device_bucket"].is_null());
    assert!(reply.body["experiment_id"].is_null());

    let newest = app
        .get(
            "/api/v1/devices/free/models/kbd/version",
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(newest.status, StatusCode::OK, "{}", newest.body);
    assert_eq!(newest.body["version"], "1.1.0");
    assert_eq!(newest.body["source"], "latest");
    assert!(newest.body["deployment_id"].is_null());

    // A device's key reads only its own device's version.
    let other = app
        .get(
            &format!("/api/v1/devices/{}/models/kbd/version", pinned.id),
            Some(&free.key),
        )
        .await;
    other.assert_error(404, "not_found");
}

#[tokio::test]
async fn resolve_gives_a_device_its_deployed_version_for_latest_and_the_named_version_else() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    let device = app.register_device("phone").await;
    app.deploy("kbd", "1.0.0", json!({"devices": ["phone"]}))
        .await;
    let ios_body = json!({"platform": "ios", "model": "iPhone15,2", "manufacturer": "Apple",
        "cpu_architecture": "arm64", "os_version": "17.4", "total_memory_mb": 6144,
        "gpu_available": true, "npu_available": true, "supported_runtimes": ["coreml"],
        "compute_units": "all"});

    let latest = app
        .post(
            "/api/v1/models/kbd/versions/latest/resolve",
            Some(&device.key),
            ios_body.clone(),
        )
        .await;
    assert_eq!(latest.status, StatusCode::OK, "{}", latest.body);
    assert_eq!(latest.body["model_id"], "kbd");
    assert_eq!(latest.body["version"], "1.0.0");
    assert_eq!(latest.body["format"], "onnx");
    assert_eq!(latest.body["download_url"], url("kbd", "1.0.0"));
    assert_eq!(latest.body["available_formats"], json!(["onnx"]));
    assert_eq!(latest.body["source"], "deployment");

    let named = app
        .post(
            "/api/v1/models/Keyboard/versions/1.1.0/resolve",
            Some(&device.key),
            ios_body,
        )
        .await;
    assert_eq!(named.body["version"], "1.1.0");
    assert_eq!(named.body["source"], "requested");

    let org_latest = app
        .send(
            Method::POST,
            "/api/v1/models/kbd/versions/latest/resolve",
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(org_latest.status, StatusCode::OK, "{}", org_latest.body);
    assert_eq!(org_latest.body["version"], "1.1.0");

    let bad = app
        .post(
            "/api/v1/models/kbd/versions/latest/resolve",
            Some(&device.key),
            json!({"gpu_available": "yes"}),
        )
        .await;
    assert!(
        bad.assert_error(400, "bad_request")
            .contains("gpu_available")
    );
}

#[tokio::test]
async fn updates_name_the_version_to_move_to_and_404_when_there_is_none() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    let device = app.register_device("phone").await;

    let update = app
        .get(
            "/api/v1/models/kbd/updates?current_version=1.0.0",
            Some(&device.key),
        )
        .await;
    assert_eq!(update.status, StatusCode::OK, "{}", update.body);
    assert_eq!(update.body["new_version"], "1.1.0");
    assert_eq!(update.body["current_version"], "1.0.0");
    assert_eq!(update.body["is_required"], false);
    assert_eq!(update.body["update_size"], 2000);

    let none = app
        .get(
            "/api/v1/models/Keyboard/updates?current_version=1.1.0",
            Some(&device.key),
        )
        .await;
    assert!(none.assert_error(404, "not_found").contains("no update"));

    // A deployment with the immediate policy pins the device back, and requires it.
    app.post(
        "/api/v1/deployments",
        Some(app.secret_key()),
        json!({"model_id": "kbd", "version": "1.0.0", "target": {"devices": ["phone"]},
               "activation_policy": "immediate"}),
    )
    .await;
    let back = app
        .get(
            "/api/v1/models/kbd/updates?current_version=1.1.0",
            Some(&device.key),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(back.body["new_version"], "1.0.0");
    assert_eq!(back.body["is_required"], true);

    let missing = app
        .get("/api/v1/models/kbd/updates", Some(&device.key))
        .await;
    assert!(
        missing
            .assert_error(400, "bad_request")
            .contains("current_version")
    );
}

#[tokio::test]
async fn registry_pull_resolves_a_name_and_tag_as_the_node_sdk_sends_them() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    let key = Some(app.publishable_key());

    let latest = app
        .post(
            "/api/v1/registry/pull",
            key,
            json!({"name": "Keyboard", "tag": "latest", "format": "onnx", "org_id": "org_demo"}),
        )
        .await;
    assert_eq!(latest.status, StatusCode::OK, "{}", latest.body);
    assert_eq!(latest.body["name"], "Keyboard");
    assert_eq!(latest.body["tag"], "latest");
    assert_eq!(latest.body["version"], "1.1.0");
    assert_eq!(latest.body["download_url"], url("kbd", "1.1.0"));
    assert_eq!(latest.body["format"], "onnx");
    assert_eq!(latest.body["size_bytes"], 2000);
    assert_eq!(latest.body["checksum"], ARTIFACT_SHA256);

    let tagged = app
        .post(
            "/api/v1/registry/pull",
            key,
            json!({"name": "kbd", "tag": "1.0.0"}),
        )
        .await;
    assert_eq!(tagged.body["version"], "1.0.0");

    let format = app
        .post(
            "/api/v1/registry/pull",
            key,
            json!({"name": "kbd", "format": "tflite"}),
        )
        .await;
    assert!(format.assert_error(404, "not_found").contains("\"tflite\""));
    let org = app
        .post(
            "/api/v1/registry/pull",
            key,
            json!({"name": "kbd", "org_id": "org_other"}),
        )
        .await;
    org.assert_error(403, "forbidden");
    let nameless = app.post("/api/v1/registry/pull", key, json!({})).await;
    assert!(nameless.assert_error(400, "bad_request").contains("name"));
}

#[tokio::test]
async fn registry_resolve_reads_a_reference_with_or_without_a_tag() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    let key = Some(app.publishable_key());

    let latest = app.get("/api/v1/registry/resolve/Keyboard", key).await;
    assert_eq!(latest.status, StatusCode::OK, "{}", latest.body);
    assert_eq!(latest.body["download_url"], url("kbd", "1.1.0"));
    assert_eq!(latest.body["url"], url("kbd", "1.1.0"));
    assert_eq!(latest.body["version"], "1.1.0");
    assert_eq!(latest.body["sizeBytes"], 2000);
    assert_eq!(latest.body["checksum"], ARTIFACT_SHA256);

    // The browser encodes the reference with encodeURIComponent.
    let tagged = app.get("/api/v1/registry/resolve/kbd%3A1.0.0", key).await;
    assert_eq!(tagged.status, StatusCode::OK, "{}", tagged.body);
    assert_eq!(tagged.body["version"], "1.0.0");

    let missing = app.get("/api/v1/registry/resolve/kbd:9", key).await;
    missing.assert_error(404, "not_found");
}

#[tokio::test]
async fn deleting_a_version_in_use_is_a_409_naming_the_deployment_and_changes_nothing() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    let deployment = app.deploy("kbd", "1.0.0", json!({})).await;
    let id = deployment["id"].as_str().unwrap();
    let key = Some(app.secret_key());

    let refused = app
        .send(
            Method::DELETE,
            "/api/v1/models/kbd/versions/1.0.0",
            key,
            None,
        )
        .await;
    let message = refused.assert_error(409, "conflict");
    assert!(
        message.contains(id) && message.contains("cancel"),
        "{message}"
    );
    let whole = app
        .send(Method::DELETE, "/api/v1/models/Keyboard", key, None)
        .await;
    assert!(whole.assert_error(409, "conflict").contains(id));
    assert_eq!(app.count_rows("model_versions"), 2);
    assert_eq!(app.count_rows("models"), 1);

    // Once cancelled, the deployment no longer holds it; the cancelled one goes with it.
    app.post(&format!("/api/v1/deployments/{id}/cancel"), key, json!({}))
        .await;
    let deleted = app
        .send(
            Method::DELETE,
            "/api/v1/models/kbd/versions/1.0.0",
            key,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["versions"], json!(["1.0.0"]));
    assert_eq!(deleted.body["deployments"], json!([id]));
    assert_eq!(app.count_rows("model_versions"), 1);
    assert_eq!(app.count_rows("deployments"), 0);
    let gone = app.get("/api/v1/models/kbd/versions/1.0.0", key).await;
    gone.assert_error(404, "not_found");
    let events = app
        .get("/api/v1/events?type=model.version_deleted", key)
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    assert_eq!(events.body["events"][0]["data"]["version"], "1.0.0");
}

#[tokio::test]
async fn deleting_a_model_removes_its_versions_with_an_event_for_each() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0", "1.1.0"]).await;
    add_model(&app, "other", "Other", &["1"]).await;
    let key = Some(app.secret_key());

    let deleted = app
        .send(Method::DELETE, "/api/v1/models/Keyboard", key, None)
        .await;

    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(deleted.body["model_id"], "kbd");
    assert_eq!(deleted.body["versions"], json!(["1.1.0", "1.0.0"]));
    assert_eq!(app.count_rows("models"), 1);
    assert_eq!(app.count_rows("model_versions"), 1);
    app.get("/api/v1/models/kbd", key)
        .await
        .assert_error(404, "not_found");
    let versions = app
        .get("/api/v1/events?type=model.version_deleted", key)
        .await;
    assert_eq!(versions.body["events"].as_array().unwrap().len(), 2);
    let model = app.get("/api/v1/events?type=model.deleted", key).await;
    assert_eq!(model.body["events"][0]["data"]["model_id"], "kbd");
}

#[tokio::test]
async fn deleting_latest_deletes_only_a_version_of_that_name() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0"]).await;

    let reply = app
        .send(
            Method::DELETE,
            "/api/v1/models/kbd/versions/latest",
            Some(app.secret_key()),
            None,
        )
        .await;

    assert!(reply.assert_error(404, "not_found").contains("\"latest\""));
    assert_eq!(app.count_rows("model_versions"), 1);
}

#[tokio::test]
async fn only_the_secret_key_deletes() {
    let app = spawn_app().await;
    add_model(&app, "kbd", "Keyboard", &["1.0.0"]).await;
    let device = app.register_device("phone").await;

    for key in [app.publishable_key(), device.key.as_str()] {
        let version = app
            .send(
                Method::DELETE,
                "/api/v1/models/kbd/versions/1.0.0",
                Some(key),
                None,
            )
            .await;
        version.assert_error(403, "forbidden");
        let model = app
            .send(Method::DELETE, "/api/v1/models/kbd", Some(key), None)
            .await;
        model.assert_error(403, "forbidden");
    }
    assert_eq!(app.count_rows("model_versions"), 1);
}

fn devreg(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(args)
        .env_remove("DEVREG_DB")
        .env_remove("DEVREG_SECRET_KEY")
        .output()
        .expect("run devreg")
}

#[test]
fn devreg_model_rm_deletes_a_version_then_the_model_and_refuses_one_deployed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db").to_string_lossy().into_owned();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--db", db.as_str()]);
        devreg(&all)
    };
    assert!(
        run(&["org", "create", "org_demo", "--create"])
            .status
            .success()
    );
    let sha = "a".repeat(64);
    for version in ["1", "2"] {
        let url = format!("https://models.example/kbd-{version}.onnx");
        let added = run(&[
            "model",
            "add",
            "kbd",
            "--version",
            version,
            "--url",
            &url,
            "--size",
            "10",
            "--sha256",
            &sha,
        ]);
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
    }
    let deployed = run(&["deploy", "kbd", "2"]);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );

    let refused = run(&["model", "rm", "kbd"]);
    let removed = run(&["model", "rm", "kbd", "--version", "1"]);
    let missing = run(&["model", "rm", "nothing"]);

    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("in use by active deployment") && why.contains("cancel"),
        "{why}"
    );
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    assert!(
        String::from_utf8_lossy(&removed.stdout).contains("Deleted 1 version(s) 1 of model kbd")
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no model \"nothing\""));
}
