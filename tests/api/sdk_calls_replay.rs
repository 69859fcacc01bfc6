//! The device-side calls the other replay files left untested (issue 27): each test sends
//! what the SDK's source sends (path, method, headers, body) and checks every field the
//! source reads, with the type it decodes it as.
//!
//! Sources, read at the commits docs/sdk-coverage.md names: iOS
//! `octomil/octomil-ios@bd482a5`, Node `octomil/octomil-node@509709d`, browser
//! `octomil/octomil-browser@8be93b4`; the line of each request and field is cited where
//! it is sent. The Android SDK's source is not public (only its DTO names are known, see
//! tests/api/sdk_replay.rs): its tests follow the conventions of its other DTO calls
//! (device access token, `X-Org-Id`, snake_case), unverified against source.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::artifacts::{model_bytes, publish, sha256_hex};
use crate::helpers::{Device, TestApp, spawn_app};
use crate::sdk_replay::{Field, array, boolean, has, integer, ios_date, sdk_send, string};

const OTLP: &str = "/api/v2/telemetry/events";

/// Headers as a slice of pairs, from owned values.
fn pairs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The device's stored telemetry, as the operator lists it.
async fn stored_events(app: &TestApp, device: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("/api/v1/devices/{device}/telemetry"),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["events"].as_array().unwrap().clone()
}

/// An OTLP/JSON key-value with a string value.
fn text(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// iOS `APIClient.getDeviceInfo` (Client/APIClient+Devices.swift:53-63) with the device
/// token and User-Agent `configureHeaders` sets (Client/APIClient.swift:274-280), decoded
/// as `DeviceInfo` (Client/APIModels+Device.swift:264-333) with `.iso8601` dates
/// (APIClient.swift:56). Registered first as `OctomilClient+Registration.swift:72-92`
/// does, with `capabilities` a `DeviceCapabilities` of booleans (APIModels+Device.swift:
/// 100-119), which `DeviceInfo` decodes back as `[String: String]?`.
#[tokio::test]
async fn ios_reads_its_device_info_with_every_field_device_info_decodes() {
    let app = spawn_app().await;
    let ua = ("user-agent", "octomil-ios/1.0".to_owned());
    let reg = sdk_send(
        &app,
        Method::POST,
        "/api/v1/devices/register",
        &pairs(&[
            ua.clone(),
            ("authorization", format!("Bearer {}", app.publishable_key())),
        ]),
        Some(json!({
            "device_identifier": "iphone-info", "org_id": app.server.org_id(), "platform": "ios",
            "os_version": "18.1", "sdk_version": "1.0.0", "app_version": "3.2",
            "device_info": {"model": "iPhone16,1"}, "locale": "en_US", "region": "US",
            "timezone": "Europe/Paris", "metadata": {},
            "capabilities": {"supports_training": true, "has_neural_engine": true,
                "max_batch_size": 8, "supported_formats": ["coreml"]},
            "manufacturer": "Apple", "model": "iPhone16,1", "cpu_architecture": "arm64",
            "gpu_available": true, "total_memory_mb": 8192, "available_storage_mb": 50000,
            "battery_pct": 80, "charging": false
        })),
    )
    .await;
    assert_eq!(reg.status, StatusCode::CREATED, "{}", reg.body);
    let id = reg.body["id"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {}", reg.body["access_token"].as_str().unwrap());
    let owned = [ua, ("authorization", bearer)];
    let headers = pairs(&owned);

    let info = sdk_send(
        &app,
        Method::GET,
        &format!("/api/v1/devices/{id}"),
        &headers,
        None,
    )
    .await;

    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    // The non-optional members of DeviceInfo.
    has(
        &info.body,
        &[
            ("id", string),
            ("device_identifier", string),
            ("org_id", string),
            ("platform", string),
            ("status", string),
            ("gpu_available", boolean),
            ("heartbeat_interval_seconds", integer),
            ("created_at", ios_date),
            ("updated_at", ios_date),
        ],
        "iOS DeviceInfo",
    );
    assert_eq!(info.body["id"], id.as_str());
    assert_eq!(info.body["device_identifier"], "iphone-info");
    assert_eq!(info.body["gpu_available"], true);
    // The optional members: absent, null, or of the type decoded.
    let optional: [Field<'_>; 12] = [
        ("os_version", string),
        ("sdk_version", string),
        ("app_version", string),
        ("manufacturer", string),
        ("model", string),
        ("cpu_architecture", string),
        ("total_memory_mb", integer),
        ("available_storage_mb", integer),
        ("locale", string),
        ("region", string),
        ("timezone", string),
        ("last_heartbeat", ios_date),
    ];
    for (field, is) in optional {
        let value = &info.body[field];
        assert!(value.is_null() || is(value), "{field}: {value}");
    }
    // `[String: String]?`: every capability a string, the registered values kept.
    let capabilities = info.body["capabilities"].as_object().unwrap();
    assert!(
        capabilities.values().all(Value::is_string),
        "{capabilities:?}"
    );
    assert_eq!(capabilities["supports_training"], "true");
    assert_eq!(capabilities["max_batch_size"], "8");
    assert_eq!(capabilities["supported_formats"], "[\"coreml\"]");

    // Any other caller reads the capabilities as registered.
    let operator = app.get_device(Some(app.secret_key()), &id).await;
    assert_eq!(operator.body["capabilities"]["supports_training"], true);
    assert_eq!(operator.body["capabilities"]["max_batch_size"], 8);
}

/// iOS `getDownloadURL` (Client/APIClient+Models.swift:80-95): `GET .../download-url?
/// format=auto` with the device token, decoded as `DownloadURLResponse`
/// (Client/APIModels+Model.swift:218-242): `url`, `expires_at` (.iso8601), `checksum`,
/// `file_size` (UInt64) required; the rest optional.
#[tokio::test]
async fn ios_gets_a_versions_download_url_with_every_field_it_decodes() {
    let app = spawn_app().await;
    let bytes = model_bytes(7_000);
    publish(&app, "kbd", "1.0.0", &bytes).await;
    let device = app.register_device("iphone-dl").await;
    let bearer = format!("Bearer {}", device.key);
    let headers = [
        ("authorization", bearer.as_str()),
        ("user-agent", "octomil-ios/1.0"),
    ];

    let reply = sdk_send(
        &app,
        Method::GET,
        "/api/v1/models/kbd/versions/1.0.0/download-url?format=auto",
        &headers,
        None,
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    has(
        &reply.body,
        &[
            ("url", string),
            ("expires_at", ios_date),
            ("checksum", string),
            ("file_size", integer),
        ],
        "iOS DownloadURLResponse",
    );
    let optional: [Field<'_>; 5] = [
        ("quantization", string),
        ("recommended_delegates", array),
        ("input_shape", array),
        ("output_shape", array),
        ("has_training_signature", boolean),
    ];
    for (field, is) in optional {
        let value = &reply.body[field];
        assert!(value.is_null() || is(value), "{field}: {value}");
    }
    assert_eq!(reply.body["checksum"], sha256_hex(&bytes).as_str());
    assert_eq!(reply.body["file_size"], 7_000);
    // The app downloads the URL with no Authorization (URLSession.shared).
    let file = app
        .client
        .get(reply.body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(sha256_hex(&file.bytes().await.unwrap()), sha256_hex(&bytes));
}

/// Node's and the browser's `ArtifactsClient.downloadUrls` (both `src/artifacts.ts:26-36`):
/// `POST /api/v1/artifacts/{id}/download-urls` with `{files: [{path, chunkIndices}],
/// expiresInSeconds}` (artifacts.ts:3-9) and `Authorization: Bearer <apiKey>` set by
/// `ServerApiClient` (Node `src/server-api.ts:61-67`, browser `src/server-api.ts:64-70`);
/// the answer is untyped JSON (`Record<string, unknown>`, artifacts.ts), any non-2xx an
/// error (server-api.ts:83 / 86). Each URL it names downloads the file.
#[tokio::test]
async fn node_and_browser_ask_download_urls_with_file_objects() {
    let app = spawn_app().await;
    let bytes = model_bytes(6_000);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let artifact = version["artifact_id"].as_str().unwrap();
    let device = app.register_device("node-dl").await;

    for key in [app.secret_key(), device.key.as_str()] {
        let bearer = format!("Bearer {key}");
        let reply = sdk_send(
            &app,
            Method::POST,
            &format!("/api/v1/artifacts/{artifact}/download-urls"),
            &[("authorization", bearer.as_str())],
            Some(
                json!({"files": [{"path": "model.onnx", "chunkIndices": [0]}],
                "expiresInSeconds": 600}),
            ),
        )
        .await;

        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["artifact_id"], artifact);
        let urls = reply.body["urls"].as_array().unwrap();
        assert_eq!(urls.len(), 1);
        assert_eq!(urls[0]["path"], "model.onnx");
        let file = app
            .client
            .get(urls[0]["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        assert_eq!(sha256_hex(&file.bytes().await.unwrap()), sha256_hex(&bytes));
    }

    // A path the artifact does not have is a 404 naming it, as for iOS's string form.
    let missing = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/artifacts/{artifact}/download-urls"),
        &[("authorization", &format!("Bearer {}", app.secret_key()))],
        Some(json!({"files": [{"path": "weights.bin"}]})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    assert!(
        missing.body["message"]
            .as_str()
            .unwrap()
            .contains("weights.bin")
    );
}

/// iOS `TelemetryQueue.flush` (Wrapper/TelemetryQueue.swift:573-610): the OTLP payload
/// `buildOTLPPayload` builds (613-629): one resource from `OtlpResource.fromSDK`
/// (Telemetry/TelemetryV2Models.swift:44-62: `sdk`, `sdk.version`, `device.id` (the
/// installation id the app registered, OctomilClient+Configuration.swift:99-102),
/// `platform`, `org.id`, `octomil.install.id`), scope `ai.octomil.sdk` (87), records from
/// `toLogRecord` (247-268: `timeUnixNano` text, severity 9 INFO, body the name, attributes
/// sorted by key, `intValue` as text, 194). `Authorization: Bearer <apiKey>` and
/// `User-Agent: octomil-ios/...` (585-592); any status outside 200...299 requeues the
/// batch (600), the body is not read.
#[tokio::test]
async fn ios_telemetry_queue_flush_is_stored_as_the_devices_events() {
    let app = spawn_app().await;
    let device = app
        .register_device_with(
            app.publishable_key(),
            json!({"device_identifier": "ios-install-1", "platform": "ios"}),
        )
        .await;
    let envelope = json!({"resourceLogs": [{
        "resource": {"attributes": [
            text("sdk", "ios"), text("sdk.version", "1.23.0"), text("device.id", "ios-install-1"),
            text("platform", "ios"), text("org.id", app.server.org_id()),
            text("octomil.install.id", "6f1c2a0e-install")
        ]},
        "scopeLogs": [{"scope": {"name": "ai.octomil.sdk", "version": "1.23.0"}, "logRecords": [
            {"timeUnixNano": "1765108800000000000", "severityNumber": 9, "severityText": "INFO",
             "body": {"stringValue": "inference.completed"},
             "attributes": [
                {"key": "inference.duration_ms", "value": {"doubleValue": 12.5}},
                {"key": "model.format", "value": {"stringValue": "coreml"}},
                {"key": "model.id", "value": {"stringValue": "kbd"}}
             ]},
            {"timeUnixNano": "1765108801000000000", "severityNumber": 9, "severityText": "INFO",
             "body": {"stringValue": "training.started"},
             "attributes": [
                {"key": "model.id", "value": {"stringValue": "kbd"}},
                {"key": "training.num_samples", "value": {"intValue": "32"}}
             ]}
        ]}]
    }]});
    let bearer = format!("Bearer {}", app.publishable_key());

    let reply = sdk_send(
        &app,
        Method::POST,
        OTLP,
        &[
            ("authorization", bearer.as_str()),
            ("user-agent", "octomil-ios/1.23.0"),
        ],
        Some(envelope),
    )
    .await;

    assert!(reply.status.is_success(), "{}", reply.body);
    assert_eq!(reply.body["accepted"], 2);
    let events = stored_events(&app, &device.id).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["event_type"], "inference.completed");
    assert_eq!(events[0]["attributes"]["inference.duration_ms"], 12.5);
    assert_eq!(events[0]["scope"], "ai.octomil.sdk");
    assert_eq!(events[0]["occurred_at"], "2025-12-07T12:00:00Z");
    assert_eq!(events[1]["attributes"]["training.num_samples"], 32);
    assert_eq!(
        events[1]["resource"]["octomil.install.id"],
        "6f1c2a0e-install"
    );
}

/// Node `TelemetryReporter.flush` (src/telemetry.ts:240-271): resource attributes
/// `sdk, sdk_version, device_id, platform, org_id` and `octomil.install.id`
/// (resourceToAttributes, 107-122), scope `@octomil/sdk` (250), records from
/// `eventToLogRecord` (124-137: `timeUnixNano` text of ms × 10^6, integers as `intValue`
/// text, 97-105), `Authorization: Bearer <apiKey>` (259-265), the answer not read. The
/// client passes the device token's `deviceId` (src/client.ts:94-106).
#[tokio::test]
async fn node_telemetry_reporter_flush_is_stored_as_the_devices_events() {
    let app = spawn_app().await;
    let device = app.register_device("node-box").await;
    let envelope = json!({"resourceLogs": [{
        "resource": {"attributes": [
            text("sdk", "node"), text("sdk_version", "0.9.0"), text("device_id", &device.id),
            text("platform", "linux"), text("org_id", app.server.org_id()),
            text("octomil.install.id", "node-install")
        ]},
        "scopeLogs": [{"scope": {"name": "@octomil/sdk", "version": "0.9.0"}, "logRecords": [
            {"timeUnixNano": "1765108800123000000", "severityNumber": 9, "severityText": "INFO",
             "body": {"stringValue": "funnel.model_load"},
             "attributes": [
                {"key": "model_id", "value": {"stringValue": "kbd"}},
                {"key": "duration_ms", "value": {"intValue": "41"}},
                {"key": "ok", "value": {"boolValue": true}}
             ]}
        ]}]
    }]});
    let bearer = format!("Bearer {}", device.key);

    let reply = sdk_send(
        &app,
        Method::POST,
        OTLP,
        &[("authorization", bearer.as_str())],
        Some(envelope),
    )
    .await;

    assert!(reply.status.is_success(), "{}", reply.body);
    let events = stored_events(&app, &device.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "funnel.model_load");
    assert_eq!(events[0]["attributes"]["duration_ms"], 41);
    assert_eq!(events[0]["attributes"]["ok"], true);
    assert_eq!(events[0]["occurred_at_ms"], 1_765_108_800_123i64);
    assert_eq!(events[0]["resource"]["sdk"], "node");
}

/// The browser's `TelemetryReporter.send` (src/telemetry.ts:537-565) for a registered
/// device: `authHeadersProvider` gives `Authorization: Bearer <access token>`
/// (src/octomil.ts:127-136, src/device-context.ts:57-64), so it posts with fetch rather
/// than `sendBeacon` (544); resource `sdk, sdk_version, device_id` (the installation id,
/// device-context.ts:66-72), `platform, org_id` (491-507), scope `@octomil/browser`
/// (469-489), records with `traceId`/`spanId` (509-526). Errors are swallowed.
#[tokio::test]
async fn browser_telemetry_reporter_send_is_stored_as_the_devices_events() {
    let app = spawn_app().await;
    let registered = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/devices/register?org_id={}", app.server.org_id()),
        &[(
            "authorization",
            &format!("Bearer {}", app.publishable_key()),
        )],
        Some(json!({"device_identifier": "browser-install-1", "platform": "browser"})),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    let id = registered.body["id"].as_str().unwrap().to_owned();
    let token = registered.body["access_token"].as_str().unwrap();
    let envelope = json!({"resourceLogs": [{
        "resource": {"attributes": [
            text("sdk", "browser"), text("sdk_version", "1.4.0"),
            text("device_id", "browser-install-1"), text("platform", "browser"),
            text("org_id", app.server.org_id())
        ]},
        "scopeLogs": [{"scope": {"name": "@octomil/browser", "version": "1.4.0"}, "logRecords": [
            {"timeUnixNano": "1765108800000000000", "severityNumber": 9, "severityText": "INFO",
             "body": {"stringValue": "inference.completed"},
             "attributes": [
                {"key": "model.id", "value": {"stringValue": "kbd"}},
                {"key": "inference.duration_ms", "value": {"doubleValue": 8.25}}
             ],
             "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7"}
        ]}]
    }]});

    let reply = sdk_send(
        &app,
        Method::POST,
        OTLP,
        &[("authorization", &format!("Bearer {token}"))],
        Some(envelope),
    )
    .await;

    assert!(reply.status.is_success(), "{}", reply.body);
    let events = stored_events(&app, &id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_type"], "inference.completed");
    assert_eq!(events[0]["attributes"]["inference.duration_ms"], 8.25);
    assert_eq!(events[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(events[0]["scope"], "@octomil/browser");
}

/// Android's `TelemetryV2Dtos` (`ai/octomil/api/dto`; no source): OTLP/JSON logs to the
/// same endpoint with its device access token and `X-Org-Id`, as its other DTO calls.
#[tokio::test]
async fn android_otlp_telemetry_is_stored_as_the_devices_events() {
    let app = spawn_app().await;
    let device = android_device(&app).await;
    let envelope = json!({"resourceLogs": [{
        "resource": {"attributes": [
            text("sdk", "android"), text("device.id", "pixel-tel"), text("platform", "android")
        ]},
        "scopeLogs": [{"scope": {"name": "ai.octomil.sdk"}, "logRecords": [
            {"timeUnixNano": "1765108800000000000", "severityNumber": 9,
             "body": {"stringValue": "inference.completed"},
             "attributes": [{"key": "inference.duration_ms", "value": {"doubleValue": 3.5}}]}
        ]}]
    }]});
    let bearer = format!("Bearer {}", device.key);

    let reply = sdk_send(
        &app,
        Method::POST,
        OTLP,
        &[("authorization", bearer.as_str()), ("x-org-id", "org_demo")],
        Some(envelope),
    )
    .await;

    assert!(reply.status.is_success(), "{}", reply.body);
    let events = stored_events(&app, &device.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["attributes"]["inference.duration_ms"], 3.5);
}

async fn android_device(app: &TestApp) -> Device {
    app.register_device_with(
        app.publishable_key(),
        json!({"device_identifier": "pixel-tel", "platform": "android"}),
    )
    .await
}

/// Android's `TrainingEventRequest` to `POST /experiments/{id}/events` (`ai/octomil/api/
/// dto`; no source): taken to be the snake_case event the iOS SDK sends there
/// (`TrackingEvent`, iOS Client/APIModels+Server.swift:6-36: `name, properties,
/// timestamp, device_id, event_type, metrics`), with the device token and `X-Org-Id`.
/// Stored under the device's variant, counted in the results.
#[tokio::test]
async fn android_experiment_events_are_counted_under_the_devices_variant() {
    let app = spawn_app().await;
    app.add_model_version("kbd-ab", "1.0.0").await;
    let created = app
        .post(
            "/api/v1/experiments",
            Some(app.secret_key()),
            json!({"name": "one arm", "model_id": "kbd-ab", "variants": [
                {"name": "control", "model_version": "1.0.0", "traffic_allocation": 100.0,
                 "is_control": true}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let started = app
        .post(
            &format!("/api/v1/experiments/{id}/start"),
            Some(app.secret_key()),
            json!({}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let device = android_device(&app).await;
    let bearer = format!("Bearer {}", device.key);

    let reply = sdk_send(
        &app,
        Method::POST,
        &format!("/api/v1/experiments/{id}/events"),
        &[("authorization", bearer.as_str()), ("x-org-id", "org_demo")],
        Some(
            json!({"name": "training_completed", "event_type": "training",
            "device_id": device.id, "properties": {"metric_name": "loss", "metric_value": 0.25},
            "metrics": {"loss": 0.25}, "timestamp": "2026-12-07T12:00:00Z"}),
        ),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["variant_id"], "control");
    let results = app
        .get(
            &format!("/api/v1/experiments/{id}/results"),
            Some(app.secret_key()),
        )
        .await;
    let control = &results.body["variants"][0];
    assert_eq!(control["events"], 1, "{}", results.body);
    assert_eq!(control["metrics"]["loss"]["mean"], 0.25);
}

/// OTLP `experiment.*` records count in the experiment's results per variant, as
/// `/experiments/{id}/events` reports do (issue 27): iOS's `reportExperimentAssigned` and
/// `reportExperimentMetric` (Wrapper/TelemetryQueue.swift:462-490: `experiment.assigned
/// {model.id, experiment.id, experiment.variant}`, `experiment.metric_recorded
/// {experiment.id, experiment.metric_name, experiment.metric_value}` as a double; the
/// Python reporter sends the same, octomil/telemetry.py 556-582) and the browser's
/// `reportExperimentMetric` (src/telemetry.ts:385-397: `experiment.metric {experimentId,
/// metricName, metricValue}`, an integer as `intValue` text). A record naming no
/// experiment of the org is telemetry only.
#[tokio::test]
async fn otlp_experiment_records_count_in_the_results_per_variant() {
    let app = spawn_app().await;
    app.add_model_version("kbd-ab", "1.0.0").await;
    let created = app
        .post(
            "/api/v1/experiments",
            Some(app.secret_key()),
            json!({"name": "one arm", "model_id": "kbd-ab", "variants": [
                {"name": "control", "model_version": "1.0.0", "traffic_allocation": 100.0,
                 "is_control": true}]}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let started = app
        .post(
            &format!("/api/v1/experiments/{id}/start"),
            Some(app.secret_key()),
            json!({}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let ios = app
        .register_device_with(
            app.publishable_key(),
            json!({"device_identifier": "ios-exp", "platform": "ios"}),
        )
        .await;
    let browser = app.register_device("browser-exp").await;
    let record = |name: &str, attributes: Value| {
        json!({"timeUnixNano": "1765108800000000000", "severityNumber": 9,
               "severityText": "INFO", "body": {"stringValue": name}, "attributes": attributes})
    };
    let logs = |device: &str, records: Vec<Value>| {
        json!({"resourceLogs": [{"resource": {"attributes": [text("device.id", device)]},
            "scopeLogs": [{"scope": {"name": "ai.octomil.sdk"}, "logRecords": records}]}]})
    };

    let from_ios = logs(
        "ios-exp",
        vec![
            record(
                "experiment.assigned",
                json!([
                    text("experiment.id", &id),
                    text("experiment.variant", "control"),
                    text("model.id", "kbd-ab")
                ]),
            ),
            record(
                "experiment.metric_recorded",
                json!([text("experiment.id", &id), text("experiment.metric_name", "latency_ms"),
                       {"key": "experiment.metric_value", "value": {"doubleValue": 10.0}}]),
            ),
            record(
                "experiment.metric_recorded",
                json!([text("experiment.id", "no-such-experiment"),
                       text("experiment.metric_name", "latency_ms"),
                       {"key": "experiment.metric_value", "value": {"doubleValue": 99.0}}]),
            ),
        ],
    );
    let bearer = format!("Bearer {}", app.publishable_key());
    let sent = sdk_send(
        &app,
        Method::POST,
        OTLP,
        &[("authorization", bearer.as_str())],
        Some(from_ios),
    )
    .await;
    assert_eq!(sent.body["accepted"], 3, "{}", sent.body);
    let from_browser = logs(
        "browser-exp",
        vec![record(
            "experiment.metric",
            json!([text("experimentId", &id), text("metricName", "latency_ms"),
                   {"key": "metricValue", "value": {"intValue": "20"}}]),
        )],
    );
    let bearer = format!("Bearer {}", browser.key);
    let sent = sdk_send(
        &app,
        Method::POST,
        OTLP,
        &[("authorization", bearer.as_str())],
        Some(from_browser),
    )
    .await;
    assert_eq!(sent.body["accepted"], 1, "{}", sent.body);

    let results = app
        .get(
            &format!("/api/v1/experiments/{id}/results"),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(results.status, StatusCode::OK, "{}", results.body);
    let control = &results.body["variants"][0];
    assert_eq!(control["devices"], 2, "{}", results.body);
    assert_eq!(control["events"], 3, "{}", results.body);
    assert_eq!(control["metrics"]["latency_ms"]["count"], 2);
    assert_eq!(control["metrics"]["latency_ms"]["mean"], 15.0);
    assert_eq!(stored_events(&app, &ios.id).await.len(), 3);
}
