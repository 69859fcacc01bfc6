//! The registry reads of the SDKs that cannot run here: each test sends exactly what the
//! SDK's source sends (path, method, headers, body) and asserts every field the source
//! requires or reads, with the type it decodes.
//!
//! Sources, with the lines cited at each request: iOS `octomil/octomil-ios@bd482a5`
//! (`Sources/Octomil/Client/APIClient+Models.swift`, `APIModels+Model.swift`,
//! `APIClient.swift`, `Generated/ArtifactFormat.swift`), Node
//! `octomil/octomil-node@509709d` (`src/model-downloader.ts`), browser
//! `octomil/octomil-browser@8be93b4` (`src/model-manager.ts`, `src/types.ts`). The Android
//! SDK's source is not available (the public `octomil/octomil-app-android` is the demo
//! app): its test follows the Android SDK's DTO file (`ai/octomil/api/dto`), unverified
//! against the SDK's calls.

use reqwest::Method;
use serde_json::{Value, json};

use crate::fixtures::ARTIFACT_SHA256;
use crate::helpers::{TestApp, spawn_app};
use crate::sdk_replay::{boolean, has, integer, sdk_send, string};

const MODEL: &str = "phi-4-mini-q4";

fn unsigned(v: &Value) -> bool {
    v.is_u64()
}
fn string_array(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string))
}
fn optional_string(v: &Value) -> bool {
    v.is_null() || v.is_string()
}
fn optional_integer(v: &Value) -> bool {
    v.is_null() || integer(v)
}
fn optional_object(v: &Value) -> bool {
    v.is_null() || v.is_object()
}
/// Swift's `.iso8601` decoding: RFC 3339 with no fractional seconds.
fn ios_date(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && !s.contains('.') && s.len() == 20)
}
/// iOS `ArtifactFormat` (Generated/ArtifactFormat.swift:3-12): only these decode.
fn ios_format(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        [
            "coreml",
            "tflite",
            "onnx",
            "gguf",
            "mlx",
            "mnn",
            "transformersjs",
            "cloud",
        ]
        .contains(&s)
    })
}

/// Two versions of [`MODEL`] (named "Phi 4 mini"), 1.0 deployed to every device.
async fn stage(app: &TestApp) -> String {
    let key = Some(app.secret_key());
    app.post(
        "/api/v1/models",
        key,
        json!({"model_id": MODEL, "name": "Phi 4 mini"}),
    )
    .await;
    for (version, size) in [("1.0", 4096), ("1.1", 8192)] {
        app.server.advance_clock(1);
        let added = app
            .post(
                &format!("/api/v1/models/{MODEL}/versions"),
                key,
                json!({"version": version, "format": "onnx", "total_bytes": size,
                       "sha256": ARTIFACT_SHA256,
                       "download_url": format!("https://cdn.example.com/{MODEL}/{version}.onnx")}),
            )
            .await;
        assert_eq!(added.status, 201, "{}", added.body);
    }
    let deployment = app.deploy(MODEL, "1.0", json!({})).await;
    deployment["id"].as_str().unwrap().to_owned()
}

/// iOS `configureHeaders` (APIClient.swift:274-280): the device token and its User-Agent.
fn ios_headers(token: &str) -> [(&'static str, String); 2] {
    [
        ("authorization", format!("Bearer {token}")),
        ("user-agent", "octomil-ios/1.0".to_owned()),
    ]
}

#[tokio::test]
async fn ios_reads_its_models_versions_resolution_and_updates() {
    let app = spawn_app().await;
    let deployment = stage(&app).await;
    let device = app
        .register_device_with(
            app.publishable_key(),
            json!({"device_identifier": "iphone-1", "platform": "ios"}),
        )
        .await;
    let owned = ios_headers(&device.key);
    let headers: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // resolveVersion (APIClient+Models.swift:12-23): GET with include_bucket=true;
    // VersionResolutionResponse (APIModels+Model.swift:124-142) requires version, source;
    // reads experiment_id (String?), rollout_id (Int?), device_bucket (Int?).
    let resolved = sdk_send(
        &app,
        Method::GET,
        &format!(
            "/api/v1/devices/{}/models/{MODEL}/version?include_bucket=true",
            device.id
        ),
        &headers,
        None,
    )
    .await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    has(
        &resolved.body,
        &[
            ("version", string),
            ("source", string),
            ("experiment_id", optional_string),
            ("rollout_id", optional_integer),
            ("device_bucket", optional_integer),
        ],
        "VersionResolutionResponse",
    );
    assert_eq!(resolved.body["version"], "1.0");
    assert_eq!(resolved.body["deployment_id"], deployment.as_str());

    // resolveModelFormat (APIClient+Models.swift:31-43): POST the ModelResolveRequest
    // (APIModels+Model.swift:146-194, snake_case keys); ModelResolveResponse (197-215)
    // requires model_id, version, format (ArtifactFormat), download_url,
    // available_formats; reads quantization, executor.
    let request = json!({"platform": "ios", "model": "iPhone16,1", "manufacturer": "Apple",
        "cpu_architecture": "arm64", "os_version": "18.1", "total_memory_mb": 8192,
        "gpu_available": true, "npu_available": true,
        "supported_runtimes": ["coreml", "onnxruntime"], "compute_units": "all"});
    let format = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/models/{MODEL}/versions/latest/resolve"),
        &headers,
        Some(request),
    )
    .await;
    assert_eq!(format.status, 200, "{}", format.body);
    has(
        &format.body,
        &[
            ("model_id", string),
            ("version", string),
            ("format", ios_format),
            ("download_url", string),
            ("available_formats", string_array),
            ("quantization", optional_string),
            ("executor", optional_string),
        ],
        "ModelResolveResponse",
    );
    assert_eq!(format.body["version"], "1.0");

    // getModelMetadata (APIClient+Models.swift:50-78) with no version: "latest"
    // (APIClient.swift:9); ModelVersionResponse (APIModels+Model.swift:72-95) requires
    // model_id, version, checksum, size_bytes (UInt64), format, created_at (.iso8601);
    // reads description, metrics, model_contract.
    for version in ["latest", "1.1"] {
        let metadata = sdk_send(
            &app,
            Method::GET,
            &format!("/api/v1/models/{MODEL}/versions/{version}"),
            &headers,
            None,
        )
        .await;
        assert_eq!(metadata.status, 200, "{}", metadata.body);
        has(
            &metadata.body,
            &[
                ("model_id", string),
                ("version", string),
                ("checksum", string),
                ("size_bytes", unsigned),
                ("format", ios_format),
                ("created_at", ios_date),
                ("description", optional_string),
                ("metrics", optional_object),
                ("model_contract", optional_object),
            ],
            "ModelVersionResponse",
        );
        assert_eq!(metadata.body["version"], "1.1");
    }

    // checkForUpdates (APIClient+Models.swift:131-147): current_version; a 404 is "no
    // update". ModelUpdateInfo (APIModels+Model.swift:100-119) requires new_version,
    // current_version, is_required, update_size (UInt64); reads release_notes.
    let update = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/models/{MODEL}/updates?current_version=0.9"),
        &headers,
        None,
    )
    .await;
    assert_eq!(update.status, 200, "{}", update.body);
    has(
        &update.body,
        &[
            ("new_version", string),
            ("current_version", string),
            ("is_required", boolean),
            ("update_size", unsigned),
            ("release_notes", optional_string),
        ],
        "ModelUpdateInfo",
    );
    assert_eq!(update.body["new_version"], "1.0");
    let none = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/models/{MODEL}/updates?current_version=1.0"),
        &headers,
        None,
    )
    .await;
    assert_eq!(none.status, 404, "{}", none.body);

    // getModel (APIClient+Models.swift:152-161) by its name as well as its id;
    // ModelResponse (APIModels+Model.swift:254-285) requires id, org_id, name, framework,
    // use_case, version_count (Int), created_at, updated_at (Strings); reads description.
    for reference in [MODEL, "Phi%204%20mini"] {
        let model = sdk_send(
            &app,
            Method::GET,
            &format!("/api/v1/models/{reference}"),
            &headers,
            None,
        )
        .await;
        assert_eq!(model.status, 200, "{}", model.body);
        has(
            &model.body,
            &[
                ("id", string),
                ("org_id", string),
                ("name", string),
                ("framework", string),
                ("use_case", string),
                ("description", optional_string),
                ("version_count", integer),
                ("created_at", ios_date),
                ("updated_at", ios_date),
            ],
            "ModelResponse",
        );
        assert_eq!(model.body["id"], MODEL);
        assert_eq!(model.body["version_count"], 2);
    }
}

#[tokio::test]
async fn node_pull_reads_every_field_model_downloader_reads() {
    let app = spawn_app().await;
    stage(&app).await;
    let bearer = format!("Bearer {}", app.publishable_key());

    // ModelDownloader.resolve (model-downloader.ts:16-52): POST /api/v1/registry/pull
    // with {name, tag (default "latest"), format (default "onnx"), org_id}, JSON and the
    // bearer key; reads name, tag, download_url, format, size_bytes (number), checksum.
    for (tag, version) in [("latest", "1.1"), ("1.0", "1.0")] {
        let pulled = sdk_send(
            &app,
            Method::POST,
            "/api/v1/registry/pull",
            &[("authorization", bearer.as_str())],
            Some(json!({"name": MODEL, "tag": tag, "format": "onnx", "org_id": "org_demo"})),
        )
        .await;
        assert_eq!(pulled.status, 200, "{}", pulled.body);
        has(
            &pulled.body,
            &[
                ("name", string),
                ("tag", string),
                ("download_url", string),
                ("format", string),
                ("size_bytes", unsigned),
                ("checksum", string),
            ],
            "PullResult",
        );
        assert_eq!(pulled.body["tag"], tag);
        assert_eq!(
            pulled.body["download_url"],
            format!("https://cdn.example.com/{MODEL}/{version}.onnx")
        );
        assert_eq!(pulled.body["checksum"], ARTIFACT_SHA256);
    }
}

#[tokio::test]
async fn browser_resolve_answers_the_download_url_model_manager_reads() {
    let app = spawn_app().await;
    stage(&app).await;
    let bearer = format!("Bearer {}", app.publishable_key());

    // fetchResolverUrl (model-manager.ts:117-159): GET
    // /api/v1/registry/resolve/{encodeURIComponent(reference)} with Accept and the key if
    // set; reads download_url ?? url. ModelMetadata (types.ts:259-267): name, version,
    // format ("onnx"), sizeBytes, url, download_url, checksum, all optional.
    for (reference, version) in [("Phi%204%20mini", "1.1"), ("phi-4-mini-q4%3A1.0", "1.0")] {
        let resolved = sdk_send(
            &app,
            Method::GET,
            &format!("/api/v1/registry/resolve/{reference}"),
            &[
                ("accept", "application/json"),
                ("authorization", bearer.as_str()),
            ],
            None,
        )
        .await;
        assert_eq!(resolved.status, 200, "{}", resolved.body);
        has(
            &resolved.body,
            &[
                ("download_url", string),
                ("url", string),
                ("name", string),
                ("version", string),
                ("format", string),
                ("sizeBytes", unsigned),
                ("checksum", string),
            ],
            "ModelMetadata",
        );
        assert_eq!(resolved.body["format"], "onnx");
        assert_eq!(resolved.body["version"], version);
    }
    // A missing model is the 404 the manager turns into MODEL_NOT_FOUND (line 140).
    let missing = sdk_send(
        &app,
        Method::GET,
        "/api/v1/registry/resolve/nothing",
        &[("authorization", bearer.as_str())],
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn android_reads_the_model_routes_its_dtos_name_with_x_org_id() {
    let app = spawn_app().await;
    stage(&app).await;
    let device = app
        .register_device_with(
            app.publishable_key(),
            json!({"device_identifier": "pixel-1", "platform": "android"}),
        )
        .await;
    let bearer = format!("Bearer {}", device.key);
    let headers = [("authorization", bearer.as_str()), ("x-org-id", "org_demo")];

    // The Android DTOs' registry reads: GET /models/{id}, /versions/{v},
    // /versions/latest, /updates; POST /versions/{v}/resolve; GET
    // /devices/{id}/models/{mid}/version, with the device token and X-Org-Id.
    for path in [
        format!("/api/v1/models/{MODEL}"),
        format!("/api/v1/models/{MODEL}/versions/1.0"),
        format!("/api/v1/models/{MODEL}/versions/latest"),
        format!("/api/v1/models/{MODEL}/updates?current_version=0.1"),
        format!("/api/v1/devices/{}/models/{MODEL}/version", device.id),
    ] {
        let reply = sdk_send(&app, Method::GET, &path, &headers, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert!(
            reply.body.get("model_id").is_some_and(Value::is_string)
                || reply.body.get("id").is_some_and(Value::is_string)
                || reply.body.get("new_version").is_some_and(Value::is_string),
            "{path}: {}",
            reply.body
        );
    }
    let resolve = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/models/{MODEL}/versions/latest/resolve"),
        &headers,
        Some(json!({"platform": "android"})),
    )
    .await;
    assert_eq!(resolve.status, 200, "{}", resolve.body);
    assert_eq!(resolve.body["version"], "1.0");
}
