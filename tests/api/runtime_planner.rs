//! The runtime planner's reads and the query-routing policy (issue 27, item 5). Each
//! replay sends what its SDK's source sends and checks every member the source requires,
//! citing the file and lines: iOS octomil/octomil-ios@bd482a5 (`Sources/Octomil/`),
//! Node octomil/octomil-node@509709d (`src/`), Python octomil==4.17.42
//! (`site-packages/octomil/`).

use serde_json::{Value, json};

use crate::fixtures::ARTIFACT_SHA256;
use crate::helpers::{TestApp, spawn_app};

/// The body Python's `RuntimePlannerClient.fetch_plan` sends (runtime/planner/client.py:
/// 182-194: model, capability, device = asdict(DeviceRuntimeProfile), schemas.py:23-36;
/// routing_policy when given); iOS (RuntimePlannerClient.swift:89-105) and Node
/// (planner/types.ts:87-117) send the same members.
fn plan_request(model: &str, platform: &str, runtimes: Value) -> Value {
    json!({
        "model": model,
        "capability": "chat",
        "routing_policy": "local_first",
        "device": {
            "sdk": "python", "sdk_version": "4.17.42", "platform": platform, "arch": "x86_64",
            "os_version": "6.1", "chip": null, "ram_total_bytes": 17_179_869_184_i64,
            "gpu_core_count": null, "accelerators": [], "installed_runtimes": runtimes,
            "supported_gate_codes": null
        }
    })
}

async fn plan(app: &TestApp, key: &str, body: Value) -> Value {
    let reply = app.post("/api/v2/runtime/plan", Some(key), body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Every member iOS's `RuntimePlanResponse` requires (RuntimePlannerSchemas.swift:490-520)
/// and, in each candidate, what `RuntimeCandidatePlan.init(from:)` decodes with
/// `decode` (333-338).
fn assert_ios_decodes(plan: &Value) {
    for field in ["model", "capability", "policy", "server_generated_at"] {
        assert!(plan[field].is_string(), "{field}: {plan}");
    }
    for field in ["candidates", "fallback_candidates"] {
        assert!(plan[field].is_array(), "{field}: {plan}");
    }
    assert!(plan["plan_ttl_seconds"].is_i64(), "{plan}");
    assert!(plan["fallback_allowed"].is_boolean(), "{plan}");
    for candidate in plan["candidates"].as_array().unwrap() {
        assert!(["local", "cloud"].contains(&candidate["locality"].as_str().unwrap()));
        assert!(candidate["priority"].is_i64());
        assert!(candidate["confidence"].is_f64());
        assert!(candidate["reason"].is_string());
    }
}

#[tokio::test]
async fn a_plan_runs_the_newest_version_with_the_engine_its_format_needs() {
    let app = spawn_app().await;
    app.add_model_version("kbd-next-word", "1.0.0").await;
    app.add_model_version("kbd-next-word", "1.1.0").await;
    let device = app.register_device("planner-1").await;
    let runtimes = json!([{"engine": "onnxruntime", "version": "1.20.0", "available": true,
        "accelerator": null, "metadata": {}}]);

    let plan = plan(
        &app,
        &device.key,
        plan_request("kbd-next-word", "linux", runtimes),
    )
    .await;

    assert_ios_decodes(&plan);
    assert_eq!(plan["model"], "kbd-next-word");
    assert_eq!(plan["policy"], "local_first");
    assert_eq!(plan["fallback_allowed"], false);
    assert_eq!(plan["fallback_candidates"], json!([]));
    let candidate = &plan["candidates"][0];
    assert_eq!(candidate["locality"], "local");
    assert_eq!(candidate["engine"], "onnxruntime");
    assert_eq!(candidate["confidence"], 0.7);
    // Python's artifact parser (runtime/planner/_artifact_parser.py:55-70) and iOS's
    // `RuntimeArtifactPlan` (RuntimePlannerSchemas.swift:221-239) read these.
    let artifact = &candidate["artifact"];
    assert_eq!(artifact["model_id"], "kbd-next-word");
    assert_eq!(artifact["model_version"], "1.1.0");
    assert_eq!(artifact["format"], "onnx");
    assert_eq!(artifact["digest"], format!("sha256:{ARTIFACT_SHA256}"));
    assert_eq!(artifact["size_bytes"], 4096);
    assert_eq!(
        artifact["uri"],
        "https://cdn.example.com/kbd-next-word/1.1.0/model.onnx"
    );
    assert!(artifact["artifact_id"].is_string());
}

#[tokio::test]
async fn a_model_without_versions_gets_a_valid_plan_with_no_candidate() {
    let app = spawn_app().await;
    let plan = plan(
        &app,
        app.publishable_key(),
        plan_request("not-registered", "linux", json!([])),
    )
    .await;
    assert_ios_decodes(&plan);
    assert_eq!(plan["candidates"], json!([]));
}

#[tokio::test]
async fn benchmarks_are_stored_listed_and_steer_the_plan_to_the_fastest_engine() {
    let app = spawn_app().await;
    app.add_model_version("kbd-next-word", "1.0.0").await;
    let device = app.register_device("bench-1").await;
    // iOS `RuntimeBenchmarkSubmission.toDictionary` (RuntimePlannerSchemas.swift:780-795);
    // Node's `RuntimeBenchmarkSubmission` (planner/types.ts:204-216) adds `device`.
    let report = |engine: &str, tps: f64| {
        json!({"source": "planner", "model": "kbd-next-word", "capability": "chat",
               "engine": engine, "success": true, "tokens_per_second": tps, "ttft_ms": 80.0,
               "peak_memory_bytes": 734_003_200_i64,
               "device": {"sdk": "node", "sdk_version": "1.0.0", "platform": "linux",
                          "arch": "x86_64"}})
    };
    for (engine, tps) in [("onnxruntime", 12.5), ("sherpa_onnx", 30.0)] {
        let stored = app
            .post(
                "/api/v2/runtime/benchmarks",
                Some(&device.key),
                report(engine, tps),
            )
            .await;
        assert_eq!(stored.status, 201, "{}", stored.body);
        assert_eq!(stored.body["accepted"], true);
    }
    let elsewhere = app
        .post(
            "/api/v2/runtime/benchmarks",
            Some(app.publishable_key()),
            json!({"model": "kbd-next-word", "engine": "llama.cpp", "success": true,
                     "tokens_per_second": 99.0, "device": {"platform": "android"}}),
        )
        .await;
    assert_eq!(elsewhere.status, 201);

    let runtimes = json!([{"engine": "onnxruntime", "available": true},
                          {"engine": "sherpa-onnx", "available": true}]);
    let plan = plan(
        &app,
        &device.key,
        plan_request("kbd-next-word", "Linux", runtimes),
    )
    .await;
    let candidate = &plan["candidates"][0];
    assert_eq!(candidate["engine"], "sherpa-onnx", "{plan}");
    assert_eq!(candidate["confidence"], 0.9);

    let listed = app
        .get(
            "/api/v2/runtime/benchmarks?model=kbd-next-word",
            Some(app.secret_key()),
        )
        .await;
    let reports = listed.body["benchmarks"].as_array().unwrap();
    assert_eq!(reports.len(), 3, "{}", listed.body);
    assert_eq!(reports[0]["platform"], "android", "newest first");
    assert_eq!(reports[1]["engine"], "sherpa-onnx");
    assert_eq!(reports[1]["device_id"], device.id.as_str());
    assert_eq!(reports[1]["report"]["source"], "planner");
    let by_device = app
        .get("/api/v2/runtime/benchmarks", Some(&device.key))
        .await;
    by_device.assert_error(403, "forbidden");
}

#[tokio::test]
async fn a_bad_plan_request_or_benchmark_is_a_400_and_stores_nothing() {
    let app = spawn_app().await;
    let key = app.secret_key();
    let mut policy = plan_request("m", "linux", json!([]));
    policy["routing_policy"] = json!("cheapest");
    let reply = app.post("/api/v2/runtime/plan", Some(key), policy).await;
    assert!(
        reply
            .assert_error(400, "bad_request")
            .contains("routing_policy")
    );
    let no_device = app
        .post(
            "/api/v2/runtime/plan",
            Some(key),
            json!({"model": "m", "capability": "chat"}),
        )
        .await;
    assert!(
        no_device
            .assert_error(400, "bad_request")
            .contains("device")
    );
    let negative = app
        .post(
            "/api/v2/runtime/benchmarks",
            Some(key),
            json!({"model": "m", "engine": "onnxruntime", "success": true,
                     "tokens_per_second": -1.0}),
        )
        .await;
    assert!(
        negative
            .assert_error(400, "bad_request")
            .contains("tokens_per_second")
    );

    let listed = app.get("/api/v2/runtime/benchmarks", Some(key)).await;
    assert_eq!(listed.body["benchmarks"], json!([]));
}

#[tokio::test]
async fn the_defaults_answer_every_member_ios_requires() {
    let app = spawn_app().await;
    let device = app.register_device("defaults-1").await;
    // RuntimePlannerClient.swift:178-198: default_engines, supported_capabilities,
    // supported_policies, plan_ttl_seconds are required.
    let reply = app.get("/api/v2/runtime/defaults", Some(&device.key)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let engines = reply.body["default_engines"]["chat"].as_array().unwrap();
    assert!(engines.iter().all(Value::is_string) && !engines.is_empty());
    assert!(
        reply.body["supported_capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("chat"))
    );
    assert!(
        reply.body["supported_policies"]
            .as_array()
            .unwrap()
            .contains(&json!("local_first"))
    );
    assert_eq!(reply.body["plan_ttl_seconds"], 86400);
}

#[tokio::test]
async fn the_route_policy_answers_every_member_ios_requires_with_its_etag() {
    let app = spawn_app().await;
    let device = app.register_device("route-1").await;
    // QueryRoutingClient.swift:212-250: GET api/v1/route/policy; `RoutingPolicy` (6-73)
    // requires version, thresholds (fast_max_words, quality_min_words), complex_indicators,
    // deterministic_enabled, ttl_seconds, fetched_at, etag. Python reads the same names
    // and `Cache-Control: max-age` (routing.py:266-281).
    let reply = app.get("/api/v1/route/policy", Some(&device.key)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = &reply.body;
    assert!(body["version"].is_i64());
    assert!(body["thresholds"]["fast_max_words"].is_i64());
    assert!(body["thresholds"]["quality_min_words"].is_i64());
    assert!(body["complex_indicators"].is_array());
    assert!(body["deterministic_enabled"].is_boolean());
    assert_eq!(body["ttl_seconds"], 3600);
    assert!(body["fetched_at"].is_i64());
    assert_eq!(reply.header("etag"), body["etag"].as_str());
    assert_eq!(reply.header("cache-control"), Some("max-age=3600"));
}
