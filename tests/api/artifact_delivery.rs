//! Hosted model files (issue 26) reaching devices: the Python device agent's chunk route,
//! the other SDKs' download paths replayed with their resume, the sweep that reclaims
//! abandoned uploads and deleted versions' files, and the model list's signed URLs.

use crate::artifacts::{fetch, model_bytes, publish, publish_in, put, sha256_hex, start_upload};
use crate::helpers::{TestApp, read, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

const MIB: usize = 1024 * 1024;

/// The agent's chunk URL: `f"{base_url}/artifacts/{artifact_id}/chunks/{file_path}/{chunk_index}"`
/// (octomil/device_agent/loops/artifact_loop.py 436), `base_url` devreg's `/api/v1`.
fn chunk_url(app: &TestApp, artifact_id: &str, path: &str, n: u64) -> String {
    app.url(&format!(
        "/api/v1/artifacts/{artifact_id}/chunks/{path}/{n}"
    ))
}

/// The agent's `Range` for chunk `n`: `bytes={offset}-{offset + CHUNK_SIZE - 1}`, the
/// offset `n * CHUNK_SIZE`, CHUNK_SIZE 8 MiB (artifact_downloader.py 21, 97-98).
fn agent_range(n: usize) -> String {
    let offset = n * 8 * MIB;
    format!("bytes={offset}-{}", offset + 8 * MIB - 1)
}

#[tokio::test]
async fn the_agents_chunks_without_a_key_reassemble_the_file_and_each_is_its_8_mib_slice() {
    let app = spawn_app().await;
    let bytes = model_bytes(17 * MIB + 5);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let artifact_id = version["artifact_id"].as_str().unwrap();
    let digest = sha256_hex(&bytes);

    let mut assembled = Vec::new();
    for n in 0..3 {
        let range = agent_range(n);
        let (status, headers, body) = fetch(
            &app,
            Method::GET,
            &chunk_url(&app, artifact_id, "model.onnx", n as u64),
            &[("range", &range)],
        )
        .await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "chunk {n}");
        let first = n * 8 * MIB;
        let last = (first + 8 * MIB).min(bytes.len()) - 1;
        assert_eq!(body, &bytes[first..=last], "chunk {n}");
        assert_eq!(
            headers["content-range"],
            format!("bytes {first}-{last}/{}", bytes.len()).as_str()
        );
        assert_eq!(headers["etag"], format!("\"{digest}\"").as_str());
        assembled.extend(body);
    }
    assert_eq!(sha256_hex(&assembled), digest);

    // Without a Range, the chunk itself.
    let (status, _, body) = fetch(
        &app,
        Method::GET,
        &chunk_url(&app, artifact_id, "model.onnx", 2),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, &bytes[16 * MIB..]);
}

#[tokio::test]
async fn a_chunk_past_the_end_is_404_a_range_outside_it_416_and_a_bad_index_400() {
    let app = spawn_app().await;
    let bytes = model_bytes(3 * MIB);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let artifact_id = version["artifact_id"].as_str().unwrap();

    let reply = read(
        app.client
            .get(chunk_url(&app, artifact_id, "model.onnx", 1))
            .header("range", agent_range(1))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let message = reply.assert_error(404, "not_found");
    assert!(message.contains("1 chunk(s)"), "{message}");

    let reply = read(
        app.client
            .get(chunk_url(&app, artifact_id, "model.onnx", 0))
            .header("range", "bytes=9000000-9000100")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let message = reply.assert_error(416, "range_not_satisfiable");
    assert!(message.contains("outside this chunk"), "{message}");

    let reply = read(
        app.client
            .get(app.url(&format!(
                "/api/v1/artifacts/{artifact_id}/chunks/model.onnx/first"
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert_error(400, "bad_request");
    let reply = read(
        app.client
            .get(chunk_url(&app, artifact_id, "other.onnx", 0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert_error(404, "not_found");
    assert_eq!(
        app.metrics()
            .await
            .lines()
            .find(|l| l.starts_with("devreg_artifact_bytes_served_total "))
            .unwrap(),
        "devreg_artifact_bytes_served_total 0"
    );
}

#[tokio::test]
async fn a_chunk_is_served_to_a_key_of_its_org_and_is_404_to_another_orgs_key() {
    let app = spawn_app().await;
    let bytes = model_bytes(1_000);
    let version = publish(&app, "kbd", "1.0.0", &bytes).await;
    let artifact_id = version["artifact_id"].as_str().unwrap();
    let device = app.register_device("phone-1").await;
    let other = app.create_org("other");
    let url = chunk_url(&app, artifact_id, "model.onnx", 0);

    let (status, _, body) = fetch(
        &app,
        Method::GET,
        &url,
        &[("authorization", &format!("Bearer {}", device.key))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);

    app.get(
        &format!("/api/v1/artifacts/{artifact_id}/chunks/model.onnx/0"),
        Some(&other.secret_key),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_deleted_versions_chunks_are_404() {
    let app = spawn_app().await;
    let version = publish(&app, "kbd", "1.0.0", &model_bytes(1_000)).await;
    let artifact_id = version["artifact_id"].as_str().unwrap();
    let deleted = read(
        app.client
            .delete(app.url("/api/v1/models/kbd/versions/1.0.0"))
            .bearer_auth(app.secret_key())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);

    let reply = read(
        app.client
            .get(chunk_url(&app, artifact_id, "model.onnx", 0))
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert_error(404, "not_found");
}

/// Bytes an ONNX file starts with: the browser's `validate` (model-manager.ts, after
/// `download`) refuses a model whose first byte is not 0x08.
fn onnx_bytes(len: usize) -> Vec<u8> {
    let mut bytes = model_bytes(len);
    bytes[0] = 0x08;
    bytes
}

#[tokio::test]
async fn node_pull_downloads_a_hosted_version_by_its_url_and_its_checksum_matches() {
    let app = spawn_app().await;
    let bytes = onnx_bytes(200_000);
    publish(&app, "kbd", "1.0.0", &bytes).await;
    let org = app
        .get("/api/v1/models/kbd", Some(app.secret_key()))
        .await
        .body["org_id"]
        .clone();

    // ModelDownloader.resolve (octomil-node src/model-downloader.ts 16-52): POST
    // /api/v1/registry/pull, Content-Type application/json and the bearer key, body
    // {name, tag, format: "onnx", org_id}; reads download_url, size_bytes, checksum,
    // name, tag, format.
    let pulled = read(
        app.client
            .post(app.url("/api/v1/registry/pull"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", app.secret_key()))
            .body(
                json!({"name": "kbd", "tag": "1.0.0", "format": "onnx", "org_id": org}).to_string(),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(pulled.status, StatusCode::OK, "{}", pulled.body);
    assert_eq!(pulled.body["name"], "kbd");
    assert_eq!(pulled.body["tag"], "1.0.0");
    assert_eq!(pulled.body["format"], "onnx");
    assert_eq!(pulled.body["size_bytes"], 200_000);
    assert_eq!(pulled.body["checksum"], sha256_hex(&bytes));
    let url = pulled.body["download_url"].as_str().unwrap();

    // ModelDownloader.download (model-downloader.ts 54-84): `fetch(url)` with no header
    // at all, `resp.ok` and a body, the total from `content-length`; it does not resume
    // (a failed download starts over). OctomilClient.pull (client.ts 234-276) then checks
    // the file's SHA-256 against `checksum`.
    let (status, headers, body) = fetch(&app, Method::GET, url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-length"], "200000");
    assert_eq!(sha256_hex(&body), pulled.body["checksum"].as_str().unwrap());
}

#[tokio::test]
async fn the_browser_resumes_a_broken_download_of_a_hosted_version_with_range() {
    let app = spawn_app().await;
    let bytes = onnx_bytes(300_000);
    publish(&app, "kbd", "1.0.0", &bytes).await;
    let bearer = format!("Bearer {}", app.publishable_key());

    // fetchResolverUrl (octomil-browser src/model-manager.ts 117-159): GET
    // /api/v1/registry/resolve/{reference} with Accept and the key; download_url ?? url.
    let resolved = read(
        app.client
            .get(app.url("/api/v1/registry/resolve/kbd"))
            .header("accept", "application/json")
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    let url = resolved.body["download_url"].as_str().unwrap().to_owned();
    assert!(url.contains("signature="), "{url}");

    // download (model-manager.ts 177-265): buildHeaders (166-175) sends Accept-Encoding
    // "gzip, deflate, br" and the key; the first request has no Range, and the total is
    // Content-Length when there is no Content-Range. The stream breaks after `received`
    // bytes (the reader throws): the retry sends `Range: bytes=<loaded>-` and reads the
    // total from Content-Range's `/N`, then appends what arrives to what it had.
    let first = app
        .client
        .get(&url)
        .header("accept-encoding", "gzip, deflate, br")
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["content-length"], "300000");
    // The bytes are the file's, not a compressed encoding the offsets would not count.
    assert!(first.headers().get("content-encoding").is_none());
    let received = 123_457;
    let mut got = first.bytes().await.unwrap()[..received].to_vec();

    let (status, headers, rest) = fetch(
        &app,
        Method::GET,
        &url,
        &[
            ("accept-encoding", "gzip, deflate, br"),
            ("authorization", &bearer),
            ("range", &format!("bytes={received}-")),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert!(headers.get("content-encoding").is_none());
    let content_range = headers["content-range"].to_str().unwrap();
    assert_eq!(content_range, format!("bytes {received}-299999/300000"));
    assert_eq!(content_range.rsplit('/').next(), Some("300000"));
    got.extend(rest);
    assert_eq!(got, bytes);
    assert_eq!(got[0], 0x08);

    // Everything received already: a 416, on which the manager starts over (199-210).
    let (status, _, _) = fetch(
        &app,
        Method::GET,
        &url,
        &[("authorization", &bearer), ("range", "bytes=300000-")],
    )
    .await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
}

/// A server whose artifacts are in `dir`, so a test can see what storage holds.
async fn spawn_app_in(dir: &std::path::Path, abandon_after: u32) -> TestApp {
    let dir = dir.to_path_buf();
    spawn_app_with(move |config| {
        config.artifacts = Some(dir);
        config.artifact_upload_abandon_after = abandon_after;
    })
    .await
}

/// The names of the files under `dir/sub` (blobs sit one directory deeper).
fn stored(dir: &std::path::Path, sub: &str) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
        if entry.path().is_dir() {
            for inner in std::fs::read_dir(entry.path()).unwrap().flatten() {
                names.push(inner.file_name().to_string_lossy().into_owned());
            }
        } else {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

#[tokio::test]
async fn the_sweep_removes_an_upload_abandoned_past_its_window_with_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), 600).await;
    let ticket = start_upload(&app, "kbd", "model.onnx").await;
    let url = ticket["upload_url"].as_str().unwrap();
    // A dropped upload: some bytes arrived, it was never confirmed.
    assert_eq!(
        put(&app, url, model_bytes(5_000)).await.status,
        StatusCode::OK
    );
    // A finished upload never confirmed: its bytes are stored by digest at the confirm,
    // so it stays a partial file until then, abandoned the same way.
    let other = start_upload(&app, "kbd", "other.onnx").await;
    let other_url = other["upload_url"].as_str().unwrap();
    assert_eq!(
        put(&app, other_url, model_bytes(700)).await.status,
        StatusCode::OK
    );
    assert_eq!(stored(dir.path(), "partial").len(), 2);

    app.server.advance_clock(599);
    app.server.sweep().await;
    assert_eq!(
        stored(dir.path(), "partial").len(),
        2,
        "kept within the window"
    );
    assert_eq!(app.count_rows("artifact_uploads"), 2);

    app.server.advance_clock(2);
    app.server.sweep().await;

    assert_eq!(stored(dir.path(), "partial"), Vec::<String>::new());
    assert_eq!(app.count_rows("artifact_uploads"), 0);
    let confirmed = app
        .post(
            "/api/v1/models/kbd/versions/confirm-upload",
            Some(app.secret_key()),
            json!({"version": "1.0.0", "storage_key": ticket["storage_key"], "file_size": 5_000}),
        )
        .await;
    confirmed.assert_error(404, "not_found");
}

#[tokio::test]
async fn the_sweep_removes_a_deleted_versions_file_and_keeps_one_another_version_names() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_in(dir.path(), 3600).await;
    let shared = model_bytes(4_000);
    let own = onnx_bytes(6_000);
    let across_orgs = model_bytes(3_000)
        .into_iter()
        .map(|b| b ^ 0x55)
        .collect::<Vec<u8>>();
    let other = app.create_org("other");
    publish(&app, "kbd", "1.0.0", &shared).await;
    publish(&app, "kbd", "1.1.0", &own).await;
    publish(&app, "kbd", "1.2.0", &across_orgs).await;
    publish(&app, "spell", "1.0.0", &shared).await;
    publish_in(&app, &other.secret_key, "theirs", "1.0.0", &across_orgs).await;
    let mut all = vec![
        sha256_hex(&shared),
        sha256_hex(&own),
        sha256_hex(&across_orgs),
    ];
    all.sort();
    assert_eq!(stored(dir.path(), "blobs"), all);

    let deleted = read(
        app.client
            .delete(app.url("/api/v1/models/kbd"))
            .bearer_auth(app.secret_key())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    // Nothing goes before the sweep.
    assert_eq!(stored(dir.path(), "blobs"), all);
    app.server.sweep().await;

    let mut kept = vec![sha256_hex(&shared), sha256_hex(&across_orgs)];
    kept.sort();
    assert_eq!(stored(dir.path(), "blobs"), kept);
    assert_eq!(app.count_rows("artifact_released"), 0);
    // What other versions name still downloads.
    for (key, model, bytes) in [
        (app.secret_key().to_owned(), "spell", &shared),
        (other.secret_key.clone(), "theirs", &across_orgs),
    ] {
        let info = app
            .get(
                &format!("/api/v1/models/{model}/versions/1.0.0/download-url"),
                Some(&key),
            )
            .await;
        assert_eq!(info.status, StatusCode::OK, "{}", info.body);
        let (status, _, body) =
            fetch(&app, Method::GET, info.body["url"].as_str().unwrap(), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body, bytes);
    }
}

#[tokio::test]
async fn deleting_a_version_frees_its_bytes_from_the_orgs_quota() {
    let app = spawn_app_with(|config| config.artifact_quota_bytes = 10_000).await;
    publish(&app, "kbd", "1.0.0", &model_bytes(6_000)).await;
    let ticket = start_upload(&app, "kbd", "model.onnx").await;
    let over = put(
        &app,
        ticket["upload_url"].as_str().unwrap(),
        onnx_bytes(6_000),
    )
    .await;
    assert_eq!(over.status.as_u16(), 507, "{}", over.body);

    let deleted = read(
        app.client
            .delete(app.url("/api/v1/models/kbd/versions/1.0.0"))
            .bearer_auth(app.secret_key())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);

    publish(&app, "kbd", "2.0.0", &onnx_bytes(6_000)).await;
}

#[tokio::test]
async fn the_model_list_gives_a_hosted_version_its_signed_url_and_keeps_an_external_one() {
    let app = spawn_app().await;
    let bytes = model_bytes(2_500);
    let hosted = publish(&app, "kbd", "1.0.0", &bytes).await;
    let external = app
        .post(
            "/api/v1/models/kbd/versions",
            Some(app.secret_key()),
            json!({"version": "0.9.0", "format": "onnx", "total_bytes": 10,
                "sha256": "ab".repeat(32),
                "download_url": "https://cdn.example.com/kbd/0.9.0/model.onnx"}),
        )
        .await;
    assert_eq!(external.status, StatusCode::CREATED, "{}", external.body);

    let listed = app.get("/api/v1/models", Some(app.publishable_key())).await;

    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let versions = listed.body["models"][0]["versions"].as_array().unwrap();
    let url_of = |v: &str| {
        versions
            .iter()
            .find(|x| x["version"] == v)
            .and_then(|x| x["download_url"].as_str())
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        url_of("0.9.0"),
        "https://cdn.example.com/kbd/0.9.0/model.onnx"
    );
    let url = url_of("1.0.0");
    assert!(
        url.starts_with(&app.url(&format!(
            "/api/v1/artifacts/{}/files/model.onnx?",
            hosted["artifact_id"].as_str().unwrap()
        ))),
        "{url}"
    );
    let (status, _, body) = fetch(&app, Method::GET, &url, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);
}
