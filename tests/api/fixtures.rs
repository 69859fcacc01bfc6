//! The setup the model, deployment and federated-round tests share: a model version to
//! deploy or train on, a deployment of it, a round on it, and a device's part in a round
//! (join, upload in parts, complete) as the SDKs' device agent sends it. One copy, so a
//! change to how a round is started or an update uploaded is made here once.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Device, Reply, Round, TestApp, read, spawn_app};

/// The model the fixtures stage when a test does not care which.
pub const MODEL: &str = "kbd-next-word";
/// The version of [`MODEL`] a round trains on.
pub const VERSION: &str = "1.0.0";
/// The digest every staged version's manifest carries.
pub const ARTIFACT_SHA256: &str =
    "abababababababababababababababababababababababababababababababab";

/// An upload a device has started: its id and the URLs its parts go to.
pub struct Upload {
    pub id: String,
    pub part_urls: Vec<String>,
}

/// A fresh server with [`MODEL`] [`VERSION`] and a round on it with `extra` fields.
pub async fn spawn_app_with_round(extra: Value) -> (TestApp, Round) {
    let app = spawn_app().await;
    let round = app.start_round_on_model(extra).await;
    (app, round)
}

/// The envelope Python's `DeviceFederatedClient.encrypt_update` builds: `sha256` and
/// `size` of `json.dumps(update)`, whose text (`", "` separators) is given as `data`.
pub fn envelope(data: &str) -> String {
    let digest: String = Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{{\"format\": \"plaintext_json\", \"sha256\": \"{digest}\", \"size\": {}, \"data\": {data}}}",
        data.len()
    )
}

/// `json.dumps(values)` for values whose shortest repr Rust and Python agree on.
pub fn dumps(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", items.join(", "))
}

impl TestApp {
    /// Adds `model` to the demo org (unless it is there already) and its `version`: an
    /// ONNX file of 4096 bytes whose download URL names both. Panics unless the version is
    /// created.
    pub async fn add_model_version(&self, model: &str, version: &str) {
        let key = Some(self.secret_key());
        let added = self
            .post("/api/v1/models", key, json!({"model_id": model}))
            .await;
        assert!(
            added.status == StatusCode::CREATED || added.body["error"] == "conflict",
            "{}",
            added.body
        );
        let reply = self
            .post(
                &format!("/api/v1/models/{model}/versions"),
                key,
                json!({"version": version, "format": "onnx", "total_bytes": 4096,
                       "sha256": ARTIFACT_SHA256,
                       "download_url": format!("https://cdn.example.com/{model}/{version}/model.onnx")}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    /// Deploys `model` `version` to the devices `target` matches (`{}`: all of the demo
    /// org's), with the secret key; panics unless 201, and returns the answer.
    pub async fn deploy(&self, model: &str, version: &str, target: Value) -> Value {
        let reply = self
            .post(
                "/api/v1/deployments",
                Some(self.secret_key()),
                json!({"model_id": model, "version": version, "target": target}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Adds [`MODEL`] [`VERSION`] and starts a round on it, with `extra` fields beside
    /// `model_id` and `base_version`; panics unless 201.
    pub async fn start_round_on_model(&self, extra: Value) -> Round {
        self.add_model_version(MODEL, VERSION).await;
        let mut body = json!({"model_id": MODEL, "base_version": VERSION});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.start_round_ok(body).await
    }

    /// The device agent's join: `POST /api/v1/federation/rounds/{id}/join` with the
    /// device's key, naming its participation.
    pub async fn join_federated_round(
        &self,
        device: &Device,
        round: &Round,
        participation_id: &str,
    ) -> Reply {
        self.post(
            &format!("/api/v1/federation/rounds/{}/join", round.id),
            Some(&device.key),
            json!({"participation_id": participation_id, "device_id": device.id, "capabilities": {}}),
        )
        .await
    }

    /// Starts the device's upload to `round` with `meta`; panics unless 200 with at least
    /// one part URL.
    pub async fn start_upload(&self, device: &Device, round: &Round, meta: Value) -> Upload {
        let reply = self
            .post(
                &format!("/api/v1/federation/rounds/{}/uploads", round.id),
                Some(&device.key),
                json!({"meta": meta}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let part_urls: Vec<String> = serde_json::from_value(reply.body["part_urls"].clone())
            .unwrap_or_else(|e| panic!("part_urls is a list of strings ({e}): {}", reply.body));
        assert!(!part_urls.is_empty(), "{}", reply.body);
        Upload {
            id: reply.body["upload_id"].as_str().unwrap().to_owned(),
            part_urls,
        }
    }

    /// PUTs raw bytes to an absolute part URL with `key`, no Content-Type (as the SDK does).
    pub async fn put_part(&self, key: &str, url: &str, bytes: &[u8]) -> Reply {
        let response = self
            .client
            .put(url)
            .bearer_auth(key)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("request failed");
        read(response).await
    }

    /// Splits `bytes` over the part URLs as the SDK does (`len // N`, the last part takes
    /// the rest) and sends each with the device's key; panics unless each is 200.
    pub async fn upload_parts(&self, device: &Device, urls: &[String], bytes: &[u8]) {
        let n = urls.len();
        let chunk = (bytes.len() / n).max(1);
        for (i, url) in urls.iter().enumerate() {
            let start = (i * chunk).min(bytes.len());
            let end = if i < n - 1 {
                (start + chunk).min(bytes.len())
            } else {
                bytes.len()
            };
            let reply = self.put_part(&device.key, url, &bytes[start..end]).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
    }

    /// Completes the device's upload `upload_id` to `round` with `meta`.
    pub async fn complete_upload(
        &self,
        device: &Device,
        round: &Round,
        upload_id: &str,
        meta: Value,
    ) -> Reply {
        self.post(
            &format!(
                "/api/v1/federation/rounds/{}/uploads/{upload_id}/complete",
                round.id
            ),
            Some(&device.key),
            json!({"meta": meta, "privacy_proof": null}),
        )
        .await
    }

    /// One device's whole part in `round`: join, upload `update` weighted by `samples`,
    /// complete. Returns the completion's answer.
    pub async fn take_part(
        &self,
        device: &Device,
        round: &Round,
        update: &[f64],
        samples: u64,
    ) -> Reply {
        let participation = uuid::Uuid::new_v4().to_string();
        let joined = self
            .join_federated_round(device, round, &participation)
            .await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
        let data = dumps(update);
        let meta = json!({"sample_count": samples, "size": data.len()});
        let upload = self.start_upload(device, round, meta.clone()).await;
        self.upload_parts(device, &upload.part_urls, envelope(&data).as_bytes())
            .await;
        self.complete_upload(device, round, &upload.id, meta).await
    }
}
