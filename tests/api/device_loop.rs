//! Models, deployments, and the SDK endpoints around register and heartbeat —
//! every endpoint, both casings, each credential and each refusal.

use futures::FutureExt as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::{ARTIFACT_SHA256, MODEL};
use crate::helpers::{Device, TestApp, assert_time_within, spawn_app};
use crate::redact;

async fn rollout(app: &TestApp, id: &str) -> (u64, u64, u64, u64) {
    let reply = app
        .get(&format!("/api/v1/deployments/{id}"), Some(app.secret_key()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let n = |f: &str| reply.body[f].as_u64().unwrap();
    (n("targeted"), n("synced"), n("active"), n("failed"))
}

async fn desired(app: &TestApp, device: &Device, key: &str) -> Value {
    let reply = app
        .get(
            &format!("/api/v1/devices/{}/desired-state", device.id),
            Some(key),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn versions(state: &Value) -> Vec<String> {
    state["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["desiredVersion"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn models_and_versions_are_added_with_the_secret_key_and_read_with_any_key() {
    let app = spawn_app().await;
    let device = app.register_device("reader").await;
    app.add_model_version(MODEL, "1.0.0").await;

    let again = app
        .post(
            "/api/v1/models",
            Some(app.secret_key()),
            json!({"model_id": MODEL}),
        )
        .await;
    assert!(again.assert_error(409, "conflict").contains(MODEL));
    let same_version = app
        .post(
            &format!("/api/v1/models/{MODEL}/versions"),
            Some(app.secret_key()),
            json!({"version": "1.0.0", "format": "onnx", "total_bytes": 1,
                   "sha256": ARTIFACT_SHA256, "download_url": "https://x/y"}),
        )
        .await;
    same_version.assert_error(409, "conflict");
    for key in [app.secret_key(), app.publishable_key(), device.key.as_str()] {
        let list = app.get("/api/v1/models", Some(key)).await;
        assert_eq!(list.status, 200, "{}", list.body);
        let version = &list.body["models"][0]["versions"][0];
        assert_eq!(version["version"], "1.0.0");
        assert_eq!(version["total_bytes"], 4096);
        assert!(version["artifact_id"].as_str().unwrap().starts_with("art_"));
    }
    let by_publishable = app
        .post(
            "/api/v1/models",
            Some(app.publishable_key()),
            json!({"model_id": "x"}),
        )
        .await;
    by_publishable.assert_error(403, "forbidden");
}

#[tokio::test]
async fn a_version_of_an_unknown_model_is_a_404_and_a_bad_manifest_a_400() {
    let app = spawn_app().await;
    let unknown = app
        .post(
            "/api/v1/models/nope/versions",
            Some(app.secret_key()),
            json!({"version": "1", "format": "onnx", "total_bytes": 1,
                   "sha256": ARTIFACT_SHA256, "download_url": "https://x/y"}),
        )
        .await;
    assert!(unknown.assert_error(404, "not_found").contains("\"nope\""));
    app.add_model_version(MODEL, "1.0.0").await;
    let bad = app
        .post(
            &format!("/api/v1/models/{MODEL}/versions"),
            Some(app.secret_key()),
            json!({"version": "2", "format": "onnx", "total_bytes": 1, "sha256": "xyz",
                   "download_url": "https://x/y"}),
        )
        .await;
    assert!(bad.assert_error(400, "bad_request").contains("sha256"));
}

#[tokio::test]
async fn a_versions_format_is_counted_in_characters_as_the_document_says() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    let version = |v: &str, format: &str| {
        json!({"version": v, "format": format, "total_bytes": 1, "sha256": ARTIFACT_SHA256,
               "download_url": "https://x/y"})
    };
    let path = format!("/api/v1/models/{MODEL}/versions");
    let key = Some(app.secret_key());

    // 32 characters of two bytes each: 64 bytes, within the 32 characters allowed.
    let wide = app.post(&path, key, version("2", &"é".repeat(32))).await;
    let too_long = app.post(&path, key, version("3", &"é".repeat(33))).await;

    assert_eq!(wide.status, 201, "{}", wide.body);
    assert!(too_long.assert_error(400, "bad_request").contains("format"));
}

#[tokio::test]
async fn a_deployment_of_an_unknown_model_or_version_is_a_404_naming_it() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());
    let no_model = app
        .post(
            "/api/v1/deployments",
            key,
            json!({"model_id": "ghost", "version": "1"}),
        )
        .await;
    assert!(
        no_model
            .assert_error(404, "not_found")
            .contains("no model \"ghost\"")
    );
    app.add_model_version(MODEL, "1.0.0").await;
    let no_version = app
        .post(
            "/api/v1/deployments",
            key,
            json!({"model_id": MODEL, "version": "9.9"}),
        )
        .await;
    assert!(
        no_version
            .assert_error(404, "not_found")
            .contains("no version \"9.9\"")
    );
    let bad_target = app
        .post(
            "/api/v1/deployments",
            key,
            json!({"model_id": MODEL, "version": "1.0.0", "target": {"device": ["x"]}}),
        )
        .await;
    bad_target.assert_error(400, "bad_request");
    let publishable = app
        .post(
            "/api/v1/deployments",
            Some(app.publishable_key()),
            json!({"model_id": MODEL, "version": "1.0.0"}),
        )
        .await;
    publishable.assert_error(403, "forbidden");
}

#[tokio::test]
async fn a_deployment_answers_its_version_target_and_rollout_and_reads_back_the_same() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    app.register_device_with(
        app.secret_key(),
        json!({"device_id": "phone", "platform": "ios"}),
    )
    .await;
    app.register_device("laptop").await;

    let created = app
        .post(
            "/api/v1/deployments",
            Some(app.secret_key()),
            json!({"model_id": MODEL, "version": "1.0.0",
                   "target": {"platforms": ["ios"], "labels": {}}}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    let read_back = app
        .get(&format!("/api/v1/deployments/{id}"), Some(app.secret_key()))
        .await;

    assert_eq!(created.status, 201, "{}", created.body);
    insta::assert_json_snapshot!(created.body, {
        ".id" => redact::uuid(),
        ".created_at" => redact::time(),
    });
    assert_eq!(read_back.status, 200, "{}", read_back.body);
    assert_eq!(read_back.body, created.body);
}

#[tokio::test]
async fn a_target_matching_no_device_is_allowed_and_counts_zero_until_one_registers() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    let created = app
        .deploy(MODEL, "1.0.0", json!({"devices": ["later-001"]}))
        .await;
    assert_eq!(created["targeted"], 0);
    assert_eq!(created["rollout"]["targeted"], 0);
    let id = created["id"].as_str().unwrap();
    let device = app.register_device("later-001").await;
    assert_eq!(rollout(&app, id).await, (1, 0, 0, 0));
    assert_eq!(
        versions(&desired(&app, &device, &device.key).await),
        ["1.0.0"]
    );
    assert_eq!(rollout(&app, id).await, (1, 1, 0, 0));
}

#[tokio::test]
async fn targets_match_by_id_identifier_platform_and_label_all_parts_together() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    let ios = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "phone", "platform": "ios"}),
        )
        .await;
    let android = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "droid", "platform": "android"}),
        )
        .await;
    // Labels are the fleet API's; the table is the schema's, read by the target rule.
    let droid_id = android.id.clone();
    app.server
        .db()
        .write_sync(move |tx| {
            tx.execute(
                "INSERT INTO device_labels (device_id, org_id, device_seq, key, value)
                 SELECT id, org_id, seq, 'ring', 'beta' FROM devices WHERE id = ?1",
                &[&droid_id],
            )?;
            Ok::<_, devreg::store::StoreError>(())
        })
        .unwrap();
    let by_platform = app
        .deploy(MODEL, "1.0.0", json!({"platforms": ["ios"]}))
        .await;
    let by_label = app
        .deploy(MODEL, "1.0.0", json!({"labels": {"ring": "beta"}}))
        .await;
    let by_id = app
        .deploy(MODEL, "1.0.0", json!({"devices": [ios.id]}))
        .await;
    let both = app
        .deploy(
            MODEL,
            "1.0.0",
            json!({"platforms": ["ios"], "labels": {"ring": "beta"}}),
        )
        .await;
    let everyone = app.deploy(MODEL, "1.0.0", json!({})).await;
    for (deployment, targeted) in [
        (by_platform, 1),
        (by_label, 1),
        (by_id, 1),
        (both, 0),
        (everyone, 2),
    ] {
        assert_eq!(deployment["targeted"], targeted, "{deployment}");
    }
}

#[tokio::test]
async fn the_desired_state_version_goes_up_when_the_desired_models_change_and_not_otherwise() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    app.add_model_version(MODEL, "2.0.0").await;
    let device = app.register_device("versioned").await;
    let empty = desired(&app, &device, &device.key).await;
    assert_eq!(
        (
            empty["desired_state_version"].as_i64(),
            versions(&empty).len()
        ),
        (Some(0), 0)
    );

    let first = app
        .deploy(MODEL, "1.0.0", json!({"devices": ["versioned"]}))
        .await;
    let v1 = desired(&app, &device, &device.key).await;
    assert_eq!(v1["desired_state_version"], 1);
    assert_eq!(
        desired(&app, &device, &device.key).await["desired_state_version"],
        1
    );

    let second = app
        .deploy(MODEL, "2.0.0", json!({"devices": ["versioned"]}))
        .await;
    let v2 = desired(&app, &device, &device.key).await;
    assert_eq!(
        (v2["desired_state_version"].as_i64(), versions(&v2)),
        (Some(2), vec!["2.0.0".to_owned()])
    );

    // Cancelling the newer one brings the older back: a change, so a new version.
    let cancel = |id: &Value| format!("/api/v1/deployments/{}/cancel", id["id"].as_str().unwrap());
    let cancelled = app
        .post(&cancel(&second), Some(app.secret_key()), json!({}))
        .await;
    assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);
    let v3 = desired(&app, &device, &device.key).await;
    assert_eq!(
        (v3["desired_state_version"].as_i64(), versions(&v3)),
        (Some(3), vec!["1.0.0".to_owned()])
    );
    let again = app
        .post(&cancel(&second), Some(app.secret_key()), json!({}))
        .await;
    again.assert_error(409, "conflict");
    app.post(&cancel(&first), Some(app.secret_key()), json!({}))
        .await;
    let v4 = desired(&app, &device, &device.key).await;
    assert_eq!(
        (v4["desired_state_version"].as_i64(), versions(&v4).len()),
        (Some(4), 0)
    );
}

#[tokio::test]
async fn sync_says_state_changed_unless_known_state_version_is_current_as_string_or_number() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    let device = app.register_device("syncer").await;
    app.deploy(MODEL, "1.0.0", json!({})).await;
    let path = format!("/api/v1/devices/{}/sync", device.id);
    let first = app
        .post(&path, Some(&device.key), json!({"schemaVersion": "1.12.0"}))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["stateChanged"], true);
    let version = first.body["desired_state_version"].as_i64().unwrap();
    for known in [json!(version.to_string()), json!(version)] {
        let again = app
            .post(
                &path,
                Some(&device.key),
                json!({"knownStateVersion": known}),
            )
            .await;
        assert_eq!(again.body["stateChanged"], false, "{known}");
    }
    let stale = app
        .post(&path, Some(&device.key), json!({"knownStateVersion": "0"}))
        .await;
    assert_eq!(stale.body["stateChanged"], true);
    let empty_body = app.send(Method::POST, &path, Some(&device.key), None).await;
    assert_eq!(empty_body.status, 200, "{}", empty_body.body);
    let bad = app
        .post(&path, Some(&device.key), json!({"knownStateVersion": [1]}))
        .await;
    bad.assert_error(400, "bad_request");
}

#[tokio::test]
async fn the_answer_carries_both_casings_and_the_manifest() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    let device = app.register_device("casings").await;
    let deployment = app.deploy(MODEL, "1.0.0", json!({})).await;
    let deployment_id = deployment["id"].as_str().unwrap();
    let models = app.get("/api/v1/models", Some(app.secret_key())).await;
    let artifact_id = models.body["models"][0]["versions"][0]["artifact_id"]
        .as_str()
        .unwrap();
    for (method, path) in [
        (Method::GET, "desired-state"),
        (Method::POST, "desired-state"),
        (Method::POST, "sync"),
    ] {
        let body = (method == Method::POST).then_some("{}");
        let reply = app
            .send(
                method.clone(),
                &format!("/api/v1/devices/{}/{path}", device.id),
                Some(&device.key),
                body,
            )
            .await;
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.body);
        // One snapshot: the three answer alike.
        insta::allow_duplicates! {
            insta::assert_json_snapshot!(reply.body, {
                ".deviceId" => redact::is(&device.id, "[device.id]"),
                ".device_id" => redact::is(&device.id, "[device.id]"),
                ".models[].deploymentId" => redact::is(deployment_id, "[deployment.id]"),
                ".models[].deployment_id" => redact::is(deployment_id, "[deployment.id]"),
                ".models[].artifactManifest.artifactId" => redact::is(artifact_id, "[artifact_id]"),
                ".models[].artifact_manifest.artifact_id" => redact::is(artifact_id, "[artifact_id]"),
                ".models[].artifact_id" => redact::is(artifact_id, "[artifact_id]"),
                ".generatedAt" => redact::time(),
                ".generated_at" => redact::time(),
                ".serverTimestamp" => redact::time(),
            });
        }
    }
}

#[tokio::test]
async fn a_device_reads_only_its_own_state_and_the_publishable_key_none() {
    let app = spawn_app().await;
    let mine = app.register_device("mine").await;
    let other = app.register_device("other").await;
    let other_org = app.create_org("org_other");
    for (method, path) in [
        (Method::GET, "desired-state"),
        (Method::POST, "desired-state"),
        (Method::POST, "sync"),
        (Method::POST, "observed-state"),
        (Method::GET, "assignments"),
    ] {
        let body = (method == Method::POST).then_some("{\"models\": []}");
        let send = |key: &str, id: &str| {
            let (method, key, url) = (
                method.clone(),
                key.to_owned(),
                format!("/api/v1/devices/{id}/{path}"),
            );
            let app = &app;
            async move { app.send(method, &url, Some(&key), body).await }
        };
        let key = mine.key.clone();
        send(&key, &other.id).await.assert_error(404, "not_found");
        send(&other_org.secret_key, &mine.id)
            .await
            .assert_error(404, "not_found");
        let refused = send(app.publishable_key(), &mine.id).await;
        assert!(
            refused
                .assert_error(403, "forbidden")
                .contains("device's own key")
        );
        assert_eq!(send(&key, &mine.id).await.status, 200, "{method} {path}");
        assert_eq!(
            send(app.secret_key(), "mine").await.status,
            200,
            "{method} {path} by identifier"
        );
        app.send(
            method.clone(),
            &format!("/api/v1/devices/{}/{path}", mine.id),
            None,
            body,
        )
        .await
        .assert_error(401, "unauthorized");
    }
}

#[tokio::test]
async fn observed_state_that_is_not_an_object_is_a_400() {
    let app = spawn_app().await;
    let device = app.register_device("observer").await;
    let path = format!("/api/v1/devices/{}/observed-state", device.id);
    for body in [
        "[]",
        "\"active\"",
        "{\"models\": {}}",
        "{\"models\": [1]}",
        "{\"models\": [{}]}",
    ] {
        let reply = app
            .send(Method::POST, &path, Some(&device.key), Some(body))
            .await;
        reply.assert_error(400, "bad_request");
    }
    app.send(Method::POST, &path, Some(&device.key), None)
        .await
        .assert_error(400, "bad_request");
}

#[tokio::test]
async fn observed_state_is_stored_shown_in_retrieve_and_written_only_when_it_changes() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    let device = app.register_device("reporter").await;
    assert!(app.get_device(Some(&device.key), &device.id).await.body["observed_state"].is_null());
    let deployment = app.deploy(MODEL, "1.0.0", json!({})).await;
    let id = deployment["id"].as_str().unwrap();
    let path = format!("/api/v1/devices/{}/observed-state", device.id);
    let report = json!({"schemaVersion": "1.4.0", "deviceId": device.id,
        "reportedAt": "2026-11-25T20:57:33.123Z",
        "models": [{"modelId": MODEL, "status": "ACTIVE", "installedVersion": "1.0.0",
                    "activeVersion": "1.0.0"}]});
    let ack = app.post(&path, Some(&device.key), report.clone()).await;
    assert_eq!(
        (ack.status.as_u16(), &ack.body["accepted"]),
        (200, &json!(true)),
        "{}",
        ack.body
    );
    assert_eq!(rollout(&app, id).await, (1, 0, 1, 0));
    let events = || app.count_rows("events WHERE type = 'device.observed_state_changed'");
    let shown = app
        .get_device(Some(app.secret_key()), &device.id)
        .await
        .body["observed_state"]
        .clone();
    assert_eq!(shown["models"][0]["active_version"], "1.0.0");
    assert_eq!(shown["models"][0]["status"], "active");
    assert_eq!(events(), 1);

    app.server.advance_clock(5);
    let commits = app.server.db().commit_count();
    let again = app.post(&path, Some(&device.key), report).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    assert_eq!(
        app.server.db().commit_count(),
        commits,
        "the same report again costs no write"
    );
    assert_eq!(events(), 1, "the same report again changes nothing");
    let unchanged = app
        .get_device(Some(app.secret_key()), &device.id)
        .await
        .body["observed_state"]
        .clone();
    assert_eq!(unchanged["updated_at"], shown["updated_at"]);

    let failed = json!({"models": [{"modelId": MODEL, "status": "DOWNLOAD_FAILED",
        "installedVersion": null, "activeVersion": null}]});
    app.post(&path, Some(&device.key), failed).await;
    assert_eq!(events(), 2);
    assert_eq!(rollout(&app, id).await, (1, 0, 0, 1));
}

#[tokio::test]
async fn every_sdk_shape_of_an_active_model_counts_as_active() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    let deployment = app.deploy(MODEL, "1.0.0", json!({})).await;
    let id = deployment["id"].as_str().unwrap();
    let shapes = [
        // Python device agent (artifact_loop.py)
        json!({"modelId": MODEL, "status": "ACTIVE", "installedVersion": "1.0.0", "activeVersion": "1.0.0"}),
        // Node / browser (control.ts ObservedModelStatus)
        json!({"modelId": MODEL, "status": "active", "version": "1.0.0"}),
        // iOS (ControlSync.swift ObservedModelEntry, snake_case)
        json!({"model_id": MODEL, "artifact_id": "a", "artifact_version": "1.0.0", "status": "active"}),
    ];
    for (n, shape) in shapes.iter().enumerate() {
        let device = app.register_device(&format!("shape-{n}")).await;
        let reply = app
            .post(
                &format!("/api/v1/devices/{}/observed-state", device.id),
                Some(&device.key),
                json!({"models": [shape]}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    // A sync's inventory with active versions (Python: snake entries; iOS: camel).
    let by_sync = app.register_device("shape-sync").await;
    let reply = app
        .post(
            &format!("/api/v1/devices/{}/sync", by_sync.id),
            Some(&by_sync.key),
            json!({"modelInventory": [{"modelId": MODEL, "version": "1.0.0", "artifactId": "a", "status": "READY"}],
                   "activeVersions": [{"model_id": MODEL, "version": "1.0.0"}]}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(rollout(&app, id).await, (4, 1, 4, 0));
}

#[tokio::test]
async fn assignments_and_control_sync_say_whether_anything_changed_since_the_last_refresh() {
    let app = spawn_app().await;
    app.add_model_version(MODEL, "1.0.0").await;
    let device = app.register_device("refresher").await;
    let path = format!("/api/v1/devices/{}/assignments", device.id);
    let first = app.get(&path, Some(&device.key)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        (&first.body["updated"], &first.body["config_version"]),
        (&json!(false), &json!("0"))
    );
    app.deploy(MODEL, "1.0.0", json!({})).await;
    let changed = app.get(&path, Some(&device.key)).await;
    for field in ["updated", "assignments_changed", "rollouts_changed"] {
        assert_eq!(changed.body[field], true, "{field}");
    }
    assert_eq!(changed.body["assignments"][0]["model_id"], MODEL);
    assert_eq!(changed.body["assignments"][0]["version"], "1.0.0");
    assert!(changed.body["assignments"][0]["config"].is_object());
    assert_eq!(
        app.get(&path, Some(&device.key)).await.body["updated"],
        false
    );

    let control = app.get("/api/v1/control/sync", Some(&device.key)).await;
    assert_eq!(control.status, 200, "{}", control.body);
    assert_eq!(
        (&control.body["config_version"], &control.body["updated"]),
        (&json!("1"), &json!(false))
    );
    let by_org = app
        .get("/api/v1/control/sync", Some(app.secret_key()))
        .await;
    assert_eq!(
        (&by_org.body["config_version"], &by_org.body["updated"]),
        (&json!("0"), &json!(false))
    );
    app.get("/api/v1/control/sync", None)
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn the_control_heartbeat_acks_and_moves_the_devices_last_heartbeat() {
    let app = spawn_app().await;
    let device = app.register_device("ios-beat").await;
    let before = app.server.now();
    let ack = app
        .post("/api/v1/control/heartbeat", Some(&device.key), json!({}))
        .await;
    assert_eq!(
        (ack.status.as_u16(), &ack.body["ack"]),
        (200, &json!(true)),
        "{}",
        ack.body
    );
    let seen = app.get_device(Some(&device.key), &device.id).await.body;
    assert_time_within(&seen["last_heartbeat"], before, app.server.now());
    let by_org = app
        .post(
            "/api/v1/control/heartbeat",
            Some(app.publishable_key()),
            json!({}),
        )
        .await;
    assert_eq!(by_org.body["ack"], true);
}

#[tokio::test]
async fn the_heartbeat_without_an_id_finds_the_device_by_key_or_body_identifier() {
    let app = spawn_app().await;
    let mine = app.register_device("node-1").await;
    let other = app.register_device("node-2").await;
    let path = "/api/v1/devices/heartbeat";
    let own = app
        .post(
            path,
            Some(&mine.key),
            json!({"device_identifier": "node-1"}),
        )
        .await;
    assert_eq!(
        (own.status.as_u16(), &own.body["id"]),
        (200, &json!(mine.id)),
        "{}",
        own.body
    );
    let no_body = app.send(Method::POST, path, Some(&mine.key), None).await;
    assert_eq!(no_body.body["device_identifier"], "node-1");
    app.post(
        path,
        Some(&mine.key),
        json!({"device_identifier": "node-2"}),
    )
    .await
    .assert_error(404, "not_found");
    for key in [app.secret_key(), app.publishable_key()] {
        let by_org = app
            .post(path, Some(key), json!({"device_id": other.id}))
            .await;
        assert_eq!(
            by_org.body["device_identifier"], "node-2",
            "{}",
            by_org.body
        );
        app.post(path, Some(key), json!({}))
            .await
            .assert_error(400, "bad_request");
    }
    // GET there is still the device named "heartbeat".
    app.get(path, Some(app.secret_key()))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn register_says_expires_at_as_rfc_3339_except_to_the_python_sdk() {
    let app = spawn_app().await;
    let send = |ua: &'static str, body: Value| {
        app.client
            .post(app.url("/api/v1/devices/register"))
            .header("x-api-key", app.publishable_key())
            .header("user-agent", ua)
            .json(&body)
            .send()
            .then(|r| crate::helpers::read(r.expect("request failed")))
    };
    let node = send(
        "node",
        json!({"device_identifier": "n", "platform": "linux", "app_id": null}),
    )
    .await;
    assert_eq!(node.status, 201, "{}", node.body);
    let expires = node.body["expires_at"]
        .as_str()
        .expect("an RFC 3339 string");
    assert!(
        expires.ends_with('Z') && !expires.contains('.'),
        "{expires}"
    );
    let python = send(
        "python-httpx/0.28.1",
        json!({"device_identifier": "p", "platform": "python"}),
    )
    .await;
    assert_eq!(python.status, 201, "{}", python.body);
    assert!(python.body.get("expires_at").is_none(), "{}", python.body);
    let control = send(
        "python-httpx/0.28.1",
        json!({"device_identifier": "c", "platform": "linux"}),
    )
    .await;
    assert_eq!(control.status, 201, "{}", control.body);
    assert!(control.body.get("expires_at").is_none(), "{}", control.body);
}

#[tokio::test]
async fn an_unknown_deployment_is_a_404() {
    let app = spawn_app().await;
    app.get("/api/v1/deployments/nope", Some(app.secret_key()))
        .await
        .assert_error(404, "not_found");
    app.post(
        "/api/v1/deployments/nope/cancel",
        Some(app.secret_key()),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
}
