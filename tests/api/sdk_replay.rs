//! The SDKs that cannot run here (iOS, Android, Node, browser): each test sends exactly
//! the requests the SDK's source sends, in its order, and asserts that every field the
//! source reads or requires is in the answer with the type and casing it decodes.
//!
//! Sources (read from the public repositories, the lines cited at each request): iOS
//! `octomil/octomil-ios@bd482a5`, Node `octomil/octomil-node@509709d`, browser
//! `octomil/octomil-browser@8be93b4`. The Android SDK's source is not available (the
//! public `octomil/octomil-app-android` is the demo app; the SDK is a submodule that could
//! not be fetched): its test follows the Android SDK's DTO file (`ai/octomil/api/dto`:
//! Bearer device access token, `X-Org-Id`, snake_case bodies), unverified against source.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, read, spawn_app};

const MODEL: &str = "phi-4-mini-q4";

/// A request as an SDK sends it: its headers, its method, its JSON body.
pub(crate) async fn sdk_send(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut request = app.client.request(method, app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    read(request.send().await.expect("request failed")).await
}

/// A model version deployed to every device of the org, as an operator would stage it.
async fn stage_deployment(app: &TestApp) -> String {
    app.add_model_version(MODEL, "1.0").await;
    let deployment = app.deploy(MODEL, "1.0", json!({})).await;
    deployment["id"].as_str().unwrap().to_owned()
}

/// A field's name and the check of its JSON type.
pub(crate) type Field<'a> = (&'a str, fn(&Value) -> bool);

#[track_caller]
pub(crate) fn has(body: &Value, fields: &[Field<'_>], what: &str) {
    for (field, is) in fields {
        assert!(
            body.get(*field).is_some_and(is),
            "{what}: {field} missing or of the wrong type in {body}"
        );
    }
}

pub(crate) fn string(v: &Value) -> bool {
    v.is_string()
}
pub(crate) fn boolean(v: &Value) -> bool {
    v.is_boolean()
}
pub(crate) fn integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64()
}
pub(crate) fn array(v: &Value) -> bool {
    v.is_array()
}
fn object(v: &Value) -> bool {
    v.is_object()
}
/// Swift's `.iso8601` decoding: RFC 3339 with no fractional seconds.
pub(crate) fn ios_date(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && !s.contains('.') && s.len() == 20)
}
/// What `new Date(x)` reads as the intended time: an ISO string (a number would be ms).
fn js_date(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains('T'))
}

#[tokio::test]
async fn ios_sdk_device_loop_gets_every_field_it_decodes() {
    let app = spawn_app().await;
    let deployment = stage_deployment(&app).await;
    let ua = ("user-agent", "octomil-ios/1.0");
    // APIClient.swift:278-279 Bearer + User-Agent; APIModels+Device.swift:139-154 requires
    // id, device_identifier, org_id, status, registered_at (.iso8601).
    let reg = sdk_send(
        &app,
        Method::POST,
        "/api/v1/devices/register",
        &[
            ua,
            (
                "authorization",
                &format!("Bearer {}", app.publishable_key()),
            ),
        ],
        Some(
            json!({"device_identifier": "iphone-15", "org_id": app.server.org_id(),
            "platform": "ios", "os_version": "18.1", "sdk_version": "1.0.0", "app_version": "3.2",
            "device_info": {"model": "iPhone16,1"}, "metadata": {}, "capabilities": {}}),
        ),
    )
    .await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    has(
        &reg.body,
        &[
            ("id", string),
            ("device_identifier", string),
            ("org_id", string),
            ("status", string),
            ("registered_at", ios_date),
        ],
        "iOS register",
    );
    let id = reg.body["id"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {}", reg.body["access_token"].as_str().unwrap());
    let auth = [ua, ("authorization", bearer.as_str())];

    // APIClient+Devices.swift:28 PUT heartbeat; APIModels+Device.swift:201-213 requires
    // id, device_identifier, status, last_heartbeat.
    let beat = sdk_send(
        &app,
        Method::PUT,
        &format!("/api/v1/devices/{id}/heartbeat"),
        &auth,
        Some(
            json!({"metadata": {}, "sdk_version": "1.0.0", "os_version": "18.1",
            "app_version": "3.2", "battery_pct": 80, "charging": false,
            "available_storage_mb": 1000, "available_memory_mb": 500, "network_type": "wifi"}),
        ),
    )
    .await;
    has(
        &beat.body,
        &[
            ("id", string),
            ("device_identifier", string),
            ("status", string),
            ("last_heartbeat", ios_date),
        ],
        "iOS heartbeat",
    );

    // ControlSync.swift:150-158,174-176: POST {} → HeartbeatAck { ack: Bool }.
    let ack = sdk_send(
        &app,
        Method::POST,
        "/api/v1/control/heartbeat",
        &auth,
        Some(json!({})),
    )
    .await;
    has(&ack.body, &[("ack", boolean)], "iOS control heartbeat");

    // ControlSync.swift:30-35 GET control/sync → ControlSyncResult.swift:7-20, all required.
    let sync = sdk_send(&app, Method::GET, "/api/v1/control/sync", &auth, None).await;
    has(
        &sync.body,
        &[
            ("updated", boolean),
            ("config_version", string),
            ("assignments_changed", boolean),
            ("rollouts_changed", boolean),
            ("fetched_at", ios_date),
        ],
        "iOS control sync",
    );

    // ControlSync.swift:280-322 DeviceSyncRequest (default camelCase keys, arrays always
    // sent) → DeviceSyncResponse (326-335).
    let synced = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/devices/{id}/sync"),
        &auth,
        Some(
            json!({"schemaVersion": "1.12.0", "deviceId": id, "requestedAt": "2026-11-25T20:57:33Z",
            "knownStateVersion": null, "sdkVersion": "1.0.0", "platform": "ios", "appId": null,
            "appVersion": "3.2", "modelInventory": [], "activeVersions": [],
            "availableStorageBytes": 1_000_000}),
        ),
    )
    .await;
    has(
        &synced.body,
        &[
            ("schemaVersion", string),
            ("deviceId", string),
            ("stateChanged", boolean),
            ("models", array),
            ("gcEligibleArtifactIds", array),
            ("nextPollIntervalSeconds", integer),
            ("generatedAt", string),
            ("serverTimestamp", string),
        ],
        "iOS sync",
    );
    // DesiredStateTypes.swift:5-35 DesiredModelEntry: modelId, desiredVersion, deliveryMode,
    // activationPolicy required; enginePolicy, if present, requires `allowed`;
    // artifactManifest requires artifactId, modelId, version; totalBytes Int64.
    let entry = &synced.body["models"][0];
    has(
        entry,
        &[
            ("modelId", string),
            ("desiredVersion", string),
            ("deliveryMode", string),
            ("activationPolicy", string),
        ],
        "iOS DesiredModelEntry",
    );
    assert!(entry["enginePolicy"].is_null() || entry["enginePolicy"]["allowed"].is_array());
    has(
        &entry["artifactManifest"],
        &[
            ("artifactId", string),
            ("modelId", string),
            ("version", string),
            ("totalBytes", integer),
        ],
        "iOS artifactManifest",
    );

    // ControlSync.swift:239-250 DesiredStateResponse: snake device_id,
    // desired_state_version (Int), models, gc_eligible_artifact_ids.
    let state = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/devices/{id}/desired-state"),
        &auth,
        None,
    )
    .await;
    has(
        &state.body,
        &[
            ("device_id", string),
            ("desired_state_version", integer),
            ("models", array),
            ("gc_eligible_artifact_ids", array),
        ],
        "iOS desired state",
    );
    has(
        &state.body["models"][0],
        &[
            ("modelId", string),
            ("desiredVersion", string),
            ("deliveryMode", string),
            ("activationPolicy", string),
        ],
        "iOS desired entry",
    );

    // ControlSync.swift:48-62,186-236: snake payload; answer decoded as an (empty) object.
    let observed = sdk_send(&app, Method::POST, &format!("/api/v1/devices/{id}/observed-state"), &auth,
        Some(json!({"schema_version": "1.4.0", "device_id": id, "reported_at": "2026-11-25T20:57:33Z",
            "models": [{"model_id": MODEL, "artifact_id": "a1", "artifact_version": "1.0",
                "status": "active", "error_code": null}],
            "sdk_version": "1.0.0", "os_version": "Version 18.1"}))).await;
    assert_eq!(observed.status, 200, "{}", observed.body);
    assert!(observed.body.is_object());
    let counts = app
        .send(
            Method::GET,
            &format!("/api/v1/deployments/{deployment}"),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(
        (&counts.body["synced"], &counts.body["active"]),
        (&json!(1), &json!(1))
    );
}

#[tokio::test]
async fn node_sdk_configure_and_control_loop_get_every_field_they_read() {
    let app = spawn_app().await;
    let deployment = stage_deployment(&app).await;
    // configure.ts:90-150: X-API-Key with the publishable key; reads device_id,
    // access_token, expires_at (new Date(); a number would be milliseconds).
    let reg = sdk_send(
        &app,
        Method::POST,
        "/api/v1/devices/register",
        &[("x-api-key", app.publishable_key()), ("user-agent", "node")],
        Some(
            json!({"device_identifier": "3f0c1d2e-install", "platform": "linux", "app_id": null,
            "os_version": "6.8.0", "sdk_version": "1.0.0", "cpu_architecture": "x64",
            "total_memory_mb": 16000}),
        ),
    )
    .await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    has(
        &reg.body,
        &[
            ("device_id", string),
            ("access_token", string),
            ("expires_at", js_date),
        ],
        "Node configure register",
    );
    let token = reg.body["access_token"].as_str().unwrap();
    // configure.ts:163-182: POST /devices/heartbeat {device_identifier} with the token.
    let beat = sdk_send(
        &app,
        Method::POST,
        "/api/v1/devices/heartbeat",
        &[("authorization", &format!("Bearer {token}"))],
        Some(json!({"device_identifier": "3f0c1d2e-install"})),
    )
    .await;
    assert_eq!(beat.status, 200, "{}", beat.body);

    // control.ts:204-255: register with `sdk: "node"`, Bearer apiKey (here the secret
    // key); reads id, device_identifier, org_id, status.
    let bearer = format!("Bearer {}", app.secret_key());
    let auth = [("authorization", bearer.as_str())];
    let reg = sdk_send(
        &app,
        Method::POST,
        "/api/v1/devices/register",
        &auth,
        Some(
            json!({"device_identifier": "build-box-linux-x64", "org_id": app.server.org_id(),
            "platform": "linux", "os_version": "6.8.0", "sdk": "node", "sdk_version": "1.0.0",
            "cpu_architecture": "x64", "total_memory_mb": 16000}),
        ),
    )
    .await;
    has(
        &reg.body,
        &[
            ("id", string),
            ("device_identifier", string),
            ("org_id", string),
            ("status", string),
        ],
        "Node control register",
    );
    let id = reg.body["id"].as_str().unwrap().to_owned();
    // control.ts:273-300: POST heartbeat {device_id: id}; reads status, server_time.
    let beat = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/devices/{id}/heartbeat"),
        &auth,
        Some(json!({"device_id": id})),
    )
    .await;
    has(
        &beat.body,
        &[("status", string), ("server_time", string)],
        "Node heartbeat",
    );
    // control.ts:312-345: assignments[{model_id, version, config}], config_version,
    // rollouts_changed.
    let assigned = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/devices/{id}/assignments"),
        &auth,
        None,
    )
    .await;
    has(
        &assigned.body,
        &[
            ("assignments", array),
            ("config_version", string),
            ("rollouts_changed", boolean),
        ],
        "Node assignments",
    );
    has(
        &assigned.body["assignments"][0],
        &[
            ("model_id", string),
            ("version", string),
            ("config", object),
        ],
        "Node assignment",
    );
    // control.ts:481-500 sync body; DeviceSyncResponse (:128-135) and DesiredModelEntry.
    let synced = sdk_send(&app, Method::POST, &format!("/api/v1/devices/{id}/sync"), &auth,
        Some(json!({"schemaVersion": "1.12.0", "deviceId": id, "requestedAt": "2026-11-25T20:57:33.120Z",
            "platform": "node", "modelInventory": [], "activeVersions": []}))).await;
    has(
        &synced.body,
        &[
            ("schemaVersion", string),
            ("deviceId", string),
            ("stateChanged", boolean),
            ("models", array),
            ("gcEligibleArtifactIds", array),
            ("nextPollIntervalSeconds", integer),
        ],
        "Node sync",
    );
    let entry = &synced.body["models"][0];
    has(
        entry,
        &[
            ("modelId", string),
            ("desiredVersion", string),
            ("artifactManifest", object),
        ],
        "Node entry",
    );
    has(
        &entry["artifactManifest"],
        &[
            ("downloadUrl", string),
            ("sizeBytes", integer),
            ("sha256", string),
        ],
        "Node artifactManifest",
    );
    // control.ts:446-473 GET desired-state: DesiredState {schemaVersion, deviceId,
    // generatedAt, models}.
    let state = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/devices/{id}/desired-state"),
        &auth,
        None,
    )
    .await;
    has(
        &state.body,
        &[
            ("schemaVersion", string),
            ("deviceId", string),
            ("generatedAt", string),
            ("models", array),
        ],
        "Node desired state",
    );
    // control.ts:390-425 observed-state: models[{modelId, status, version}]; `ok` only.
    let observed = sdk_send(&app, Method::POST, &format!("/api/v1/devices/{id}/observed-state"), &auth,
        Some(json!({"schemaVersion": "1.4.0", "deviceId": id, "reportedAt": "2026-11-25T20:57:33.120Z",
            "models": [{"modelId": MODEL, "status": "active", "version": "1.0"}],
            "sdkVersion": "1.0.0", "osVersion": "linux 6.8.0"}))).await;
    assert_eq!(observed.status, 200, "{}", observed.body);
    let counts = app
        .send(
            Method::GET,
            &format!("/api/v1/deployments/{deployment}"),
            Some(app.secret_key()),
            None,
        )
        .await;
    assert_eq!(counts.body["active"], 1);
}

#[tokio::test]
async fn browser_sdk_configure_and_control_loop_get_every_field_they_read() {
    let app = spawn_app().await;
    stage_deployment(&app).await;
    // configure.ts:98-157: Bearer publishable key, X-App-Id, ?org_id=; requires
    // device_id || id, access_token, expires_at (else it treats the answer as a failure).
    let reg = sdk_send(&app, Method::POST,
        &format!("/api/v1/devices/register?org_id={}", app.server.org_id()),
        &[("authorization", &format!("Bearer {}", app.publishable_key())), ("x-app-id", "web-app"),
          ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")],
        Some(json!({"device_identifier": "b-7a1c", "installation_id": "b-7a1c", "platform": "browser",
            "app_id": "web-app", "os_version": "Mozilla/5.0", "sdk_version": "1.0.0",
            "locale": "en-US", "timezone": "Europe/Berlin", "total_memory_mb": 8192}))).await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    has(
        &reg.body,
        &[
            ("device_id", string),
            ("id", string),
            ("access_token", string),
            ("expires_at", js_date),
        ],
        "browser configure register",
    );
    // configure.ts:199-205: PUT /devices/{device_id ?? id}/heartbeat: device_id is the
    // identifier, which the path accepts.
    let server_id = reg.body["device_id"].as_str().unwrap();
    let bearer = format!("Bearer {}", reg.body["access_token"].as_str().unwrap());
    let auth = [("authorization", bearer.as_str())];
    let beat = sdk_send(
        &app,
        Method::PUT,
        &format!("/api/v1/devices/{server_id}/heartbeat"),
        &auth,
        Some(json!({"device_identifier": "b-7a1c"})),
    )
    .await;
    assert_eq!(beat.status, 200, "{}", beat.body);
    let id = reg.body["id"].as_str().unwrap();
    // control.ts:185-215 assignments: updated, config_version, assignments_changed.
    let assigned = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/devices/{id}/assignments"),
        &auth,
        None,
    )
    .await;
    has(
        &assigned.body,
        &[
            ("updated", boolean),
            ("config_version", string),
            ("assignments_changed", boolean),
        ],
        "browser assignments",
    );
    // Sync with platform "browser"; the entry's artifactManifest.downloadUrl and sha256
    // are what it downloads and checks.
    let synced = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/devices/{id}/sync"),
        &auth,
        Some(
            json!({"schemaVersion": "1.12.0", "deviceId": id, "platform": "browser",
            "modelInventory": [], "activeVersions": []}),
        ),
    )
    .await;
    let manifest = &synced.body["models"][0]["artifactManifest"];
    has(
        manifest,
        &[("downloadUrl", string), ("sha256", string)],
        "browser manifest",
    );
    // control.ts:356-415 observed-state, camelCase; `ok` only.
    let observed = sdk_send(&app, Method::POST, &format!("/api/v1/devices/{id}/observed-state"), &auth,
        Some(json!({"schemaVersion": "1.4.0", "deviceId": id, "reportedAt": "2026-11-25T20:57:33.120Z",
            "models": [{"modelId": MODEL, "status": "active", "version": "1.0"}]}))).await;
    assert_eq!(observed.status, 200, "{}", observed.body);
}

#[tokio::test]
async fn android_sdk_device_loop_gets_every_field_sdk_protocol_lists() {
    // No Android SDK source is available here: the requests and required fields are the
    // Android DTO file's (Bearer device access token, X-Org-Id; snake_case bodies).
    let app = spawn_app().await;
    stage_deployment(&app).await;
    let reg = sdk_send(
        &app,
        Method::POST,
        "/api/v1/devices/register",
        &[
            (
                "authorization",
                &format!("Bearer {}", app.publishable_key()),
            ),
            ("x-org-id", app.server.org_id()),
            ("user-agent", "okhttp/4.12.0"),
        ],
        Some(
            json!({"device_identifier": "pixel-8", "org_id": app.server.org_id(),
            "platform": "android", "os_version": "15", "sdk_version": "1.0.0",
            "manufacturer": "Google", "model": "Pixel 8"}),
        ),
    )
    .await;
    assert_eq!(reg.status, 201, "{}", reg.body);
    has(
        &reg.body,
        &[
            ("id", string),
            ("device_identifier", string),
            ("org_id", string),
            ("platform", string),
            ("status", string),
            ("created_at", string),
            ("updated_at", string),
            ("access_token", string),
            ("expires_at", string),
            ("heartbeat_interval_seconds", integer),
        ],
        "Android register",
    );
    let id = reg.body["id"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {}", reg.body["access_token"].as_str().unwrap());
    let auth = [
        ("authorization", bearer.as_str()),
        ("x-org-id", app.server.org_id()),
    ];
    let beat = sdk_send(
        &app,
        Method::PUT,
        &format!("/api/v1/devices/{id}/heartbeat"),
        &auth,
        Some(json!({"battery_pct": 55, "charging": true, "network_type": "wifi"})),
    )
    .await;
    assert_eq!(beat.status, 200, "{}", beat.body);
    let state = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/devices/{id}/desired-state"),
        &auth,
        None,
    )
    .await;
    has(
        &state.body,
        &[
            ("device_id", string),
            ("generated_at", string),
            ("models", array),
        ],
        "Android desired state",
    );
    let entry = &state.body["models"][0];
    has(
        entry,
        &[
            ("model_id", string),
            ("desired_version", string),
            ("artifact_manifest", object),
        ],
        "Android entry",
    );
    has(
        &entry["artifact_manifest"],
        &[
            ("artifact_id", string),
            ("model_id", string),
            ("version", string),
            ("format", string),
            ("total_bytes", integer),
        ],
        "Android manifest",
    );
    let synced = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/devices/{id}/sync"),
        &auth,
        Some(json!({"schemaVersion": "1.12.0", "deviceId": id, "platform": "android"})),
    )
    .await;
    assert_eq!(synced.status, 200, "{}", synced.body);
    let observed = sdk_send(&app, Method::POST, &format!("/api/v1/devices/{id}/observed-state"), &auth,
        Some(json!({"schema_version": "1.4.0", "device_id": id, "reported_at": "2026-11-25T20:57:33Z",
            "models": [{"model_id": MODEL, "status": "active", "artifact_version": "1.0"}]}))).await;
    assert_eq!(observed.status, 200, "{}", observed.body);
    assert!(observed.body.is_object());
}
