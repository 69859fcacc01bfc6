//! The OpenAPI document and the server agree (issue 29, item 8): each disagreement the
//! fuzzer found (a schema-valid request refused, an invalid one accepted, an answer
//! outside its schema, an undocumented status) and fixed on the server's side, asserted
//! by status and body; and the document's side of each fix, read from `/openapi.json`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app};

/// The document the server serves.
async fn document(app: &TestApp) -> Value {
    let reply = app.get("/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.body
}

/// Starts an upload of `filename` for a new model `kbd`; answers the ticket.
async fn start_upload(app: &TestApp, filename: &str) -> Reply {
    let key = Some(app.secret_key());
    let added = app
        .post("/api/v1/models", key, json!({"model_id": "kbd"}))
        .await;
    assert!(
        added.status == StatusCode::CREATED || added.body["error"] == "conflict",
        "{}",
        added.body
    );
    app.post(
        "/api/v1/models/kbd/versions/upload-url",
        key,
        json!({"version": "1.0.0", "filename": filename}),
    )
    .await
}

#[tokio::test]
async fn an_upload_refuses_an_expires_beyond_an_i64_even_with_the_secret_key() {
    let app = spawn_app().await;
    let ticket = start_upload(&app, "model.onnx").await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    let id = ticket.body["upload_id"].as_str().unwrap();
    let path = format!("/api/v1/artifacts/uploads/{id}?expires=9223372036854775808");

    let progress = app.get(&path, Some(app.secret_key())).await;
    let message = progress.assert_error(400, "bad_request");
    assert!(
        message.contains("expires") && message.contains("9223372036854775808"),
        "{message}"
    );
    let put = app
        .send(Method::PUT, &path, Some(app.secret_key()), Some("abc"))
        .await;
    put.assert_error(400, "bad_request");

    let after = app
        .get(
            &format!("/api/v1/artifacts/uploads/{id}"),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.body);
    assert_eq!(
        after.body["received_bytes"], 0,
        "the refused PUT wrote nothing"
    );
}

#[tokio::test]
async fn a_file_path_counts_characters_as_the_document_does() {
    let app = spawn_app().await;
    // 512 characters of two bytes each: within the document's maxLength of 512.
    let long = "é".repeat(512);
    let ticket = start_upload(&app, &long).await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{}", ticket.body);
    let file = app
        .get(
            &format!("/api/v1/artifacts/art_none/files/{long}"),
            Some(app.secret_key()),
        )
        .await;
    file.assert_error(404, "not_found");

    let too_long = "é".repeat(513);
    let refused = start_upload(&app, &too_long).await;
    let message = refused.assert_error(400, "bad_request");
    assert!(message.contains("512 characters"), "{message}");

    let document = document(&app).await;
    let schema = &document["components"]["schemas"]["UploadRequest"]["properties"]["filename"];
    assert_eq!(schema["maxLength"], 512, "{schema}");
    assert_eq!(schema["minLength"], 1, "{schema}");
}

#[tokio::test]
async fn listing_experiments_refuses_an_offset_beyond_the_documented_int32() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());

    let past = app.get("/api/v1/experiments?offset=2147483648", key).await;
    let message = past.assert_error(400, "bad_request");
    assert!(message.contains("offset"), "{message}");
    let last = app.get("/api/v1/experiments?offset=2147483647", key).await;
    assert_eq!(last.status, StatusCode::OK, "{}", last.body);
    assert_eq!(last.body, json!([]));

    let document = document(&app).await;
    let offset = document["paths"]["/api/v1/experiments"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "offset")
        .cloned()
        .unwrap();
    assert_eq!(offset["schema"]["format"], "int32", "{offset}");
}

#[tokio::test]
async fn another_orgs_id_is_a_documented_403_for_experiments_and_registry_pulls() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());

    let listed = app.get("/api/v1/experiments?org_id=org_other", key).await;
    let message = listed.assert_error(403, "forbidden");
    assert!(message.contains("org_other"), "{message}");
    let pulled = app
        .post(
            "/api/v1/registry/pull",
            key,
            json!({"name": "kbd", "org_id": "org_other"}),
        )
        .await;
    pulled.assert_error(403, "forbidden");

    let document = document(&app).await;
    let paths = &document["paths"];
    assert!(paths["/api/v1/experiments"]["get"]["responses"]["403"].is_object());
    assert!(paths["/api/v1/registry/pull"]["post"]["responses"]["403"].is_object());
}

#[tokio::test]
async fn each_schema_name_in_the_document_is_one_type() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let schemas = &document["components"]["schemas"];

    // A manifest's download_url is a URL string, not the answer of download-url.
    assert_eq!(
        schemas["DownloadUrl"]["type"], "string",
        "{}",
        schemas["DownloadUrl"]
    );
    let answer = &document["paths"]["/api/v1/models/{model_id}/versions/{version}/download-url"]["get"]
        ["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(answer["$ref"], "#/components/schemas/VersionDownload");
    // The model-file upload's ticket is not the federation upload's.
    let ticket = &schemas["FileUploadTicket"];
    assert_eq!(
        ticket["properties"]["upload_id"]["type"], "string",
        "{ticket}"
    );
    assert!(
        ticket["properties"]["upload_id"].get("format").is_none(),
        "{ticket}"
    );
    for name in [
        "UploadTicket",
        "VersionResolveAnswer",
        "ReferenceResolveAnswer",
        "UpdateAccepted",
        "BenchmarkAccepted",
        "InferenceAccepted",
    ] {
        assert!(schemas[name].is_object(), "{name} is missing");
    }
}

#[tokio::test]
async fn listing_rounds_as_assignments_answers_an_array_the_document_allows() {
    let app = spawn_app().await;
    app.start_round_ok(json!({"model_id": "kbd"})).await;

    let reply = app
        .get(
            "/api/v1/training/rounds?shape=assignment",
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        reply.body
    );

    let document = document(&app).await;
    let answer = &document["components"]["schemas"]["RoundListAnswer"]["oneOf"];
    assert_eq!(answer[0]["$ref"], "#/components/schemas/RoundList");
    assert_eq!(answer[1]["type"], "array");
    assert_eq!(
        answer[1]["items"]["$ref"],
        "#/components/schemas/RoundAssignment"
    );
}

#[tokio::test]
async fn downloading_a_version_stored_elsewhere_is_a_documented_302() {
    let app = spawn_app().await;
    app.add_model_version("kbd", "1.0.0").await;

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(app.url("/api/v1/models/kbd/versions/1.0.0/download"))
        .bearer_auth(app.secret_key())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()["location"],
        "https://cdn.example.com/kbd/1.0.0/model.onnx"
    );

    let document = document(&app).await;
    let found = &document["paths"]["/api/v1/models/{model_id}/versions/{version}/download"]["get"]
        ["responses"]["302"];
    assert!(found["headers"]["Location"].is_object(), "{found}");
}

#[tokio::test]
async fn device_profiles_take_a_ttl_written_as_a_whole_float_as_json_schema_does() {
    let app = spawn_app().await;
    let body = r#"{"profiles": {"iPhone16,1": "iphone_15_pro"}, "ttl_seconds": 5320.0}"#;

    let set = app
        .send(
            Method::PUT,
            "/api/v1/devices/profiles",
            Some(app.secret_key()),
            Some(body),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["ttl_seconds"], 5320);

    let fraction = r#"{"profiles": {}, "ttl_seconds": 5320.5}"#;
    let refused = app
        .send(
            Method::PUT,
            "/api/v1/devices/profiles",
            Some(app.secret_key()),
            Some(fraction),
        )
        .await;
    let message = refused.assert_error(400, "bad_request");
    assert!(message.contains("ttl_seconds"), "{message}");
    let read = app
        .get("/api/v1/devices/profiles", Some(app.secret_key()))
        .await;
    assert_eq!(
        read.body["ttl_seconds"], 5320,
        "the refused PUT changed nothing"
    );
}

#[tokio::test]
async fn the_device_policy_takes_a_battery_threshold_written_as_a_whole_float() {
    let app = spawn_app().await;
    let path = "/api/v1/settings/org/org_demo/device-policy";

    let set = app
        .send(
            Method::PUT,
            path,
            Some(app.secret_key()),
            Some(r#"{"battery_threshold": 56.0}"#),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["battery_threshold"], 56);

    let refused = app
        .send(
            Method::PUT,
            path,
            Some(app.secret_key()),
            Some(r#"{"battery_threshold": 56.5}"#),
        )
        .await;
    let message = refused.assert_error(400, "bad_request");
    assert!(message.contains("battery_threshold"), "{message}");
}

/// A `download_url` whose host holds a bracket (`http://a[b/...`) is refused when the
/// version is created: clients cannot parse it (Python's `urlsplit` raises "Invalid IPv6
/// URL"), and the fuzzer's redirect-follower crashed on the 302 that sent it back. The
/// document's pattern says the same. A bracket after the host is still taken.
#[tokio::test]
async fn a_download_url_with_a_bracket_in_its_host_is_400_and_adds_no_version() {
    let app = crate::helpers::spawn_app().await;
    let created = app
        .post(
            "/api/v1/models",
            Some(app.secret_key()),
            serde_json::json!({"model_id": "kbd", "name": "Keyboard"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let version = |url: &str| {
        serde_json::json!({"version": "1.0.0", "format": "onnx", "total_bytes": 10,
            "sha256": "ab".repeat(32), "download_url": url})
    };
    let refused = app
        .post(
            "/api/v1/models/kbd/versions",
            Some(app.secret_key()),
            version("http://cdn[1.example.com/model.onnx"),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body["message"].as_str().unwrap().contains("[ or ]"),
        "{}",
        refused.body
    );
    let listed = app
        .get("/api/v1/models/kbd/versions", Some(app.secret_key()))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        !listed.body.to_string().contains("1.0.0"),
        "{}",
        listed.body
    );
    let taken = app
        .post(
            "/api/v1/models/kbd/versions",
            Some(app.secret_key()),
            version("http://cdn.example.com/a[1]/model.onnx"),
        )
        .await;
    assert_eq!(taken.status, 201, "{}", taken.body);
}

/// `POST /api/v1/training/weights` takes the document's int64 `sample_count` and no more.
#[tokio::test]
async fn a_weights_sample_count_past_int64_is_400() {
    let app = crate::helpers::spawn_app().await;
    let reply = app
        .post(
            "/api/v1/training/weights",
            Some(app.secret_key()),
            serde_json::json!({"model_id": "kbd", "device_id": "laptop-001",
                "sample_count": 9_223_372_036_854_775_808u64,
                "weights_data": "WzAuMDEsIC0wLjAyXQ=="}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body["message"]
            .as_str()
            .unwrap()
            .contains("sample_count must be at most 9223372036854775807"),
        "{}",
        reply.body
    );
}
