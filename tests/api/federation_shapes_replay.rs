//! The other shapes of the federation calls (issue 27), replayed as the SDKs' sources send
//! them, over the same rounds and FedAvg: the browser's `/federations/{id}/rounds/…`
//! (`octomil/octomil-browser@8be93b4` `src/federated.ts`: `getTrainingRound` 104-116,
//! `joinRound` 118-133, `submitUpdate` 283-321, `request` 323-335 with `Authorization:
//! Bearer <apiKey>`; `FederatedRound` in `src/types.ts` 380-387) and iOS's legacy weight
//! upload (`octomil/octomil-ios@bd482a5` `Client/APIClient+Training.swift` 72-84, a JSON
//! `WeightUpdate`, `Client/APIModels+Training.swift` 74-120, whose `weights_data` is
//! Swift's base64 of `WeightExtractor.serializeToPyTorch`, `Training/WeightExtractor.swift`
//! 246-316). The result each test expects is the weighted mean computed here.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixtures::{MODEL, spawn_app_with_round};
use crate::helpers::{Round, TestApp};
use crate::sdk_replay::{has, integer, sdk_send, string};

/// A browser device registered with the publishable key (configure.ts), and the access
/// token its `FederatedClient` is given as `apiKey`.
async fn browser_device(app: &TestApp, identifier: &str) -> (String, String) {
    let reply = sdk_send(
        app,
        Method::POST,
        "/api/v1/devices/register",
        &[(
            "authorization",
            &format!("Bearer {}", app.publishable_key()),
        )],
        Some(json!({"device_identifier": identifier, "platform": "browser"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (
        reply.body["id"].as_str().unwrap().to_owned(),
        reply.body["access_token"].as_str().unwrap().to_owned(),
    )
}

async fn result_of(app: &TestApp, round: &Round) -> Value {
    let reply = app
        .get(
            &format!("/api/v1/training/rounds/{}/result", round.id),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

#[track_caller]
fn assert_close(got: &Value, want: &[f64]) {
    let got: Vec<f64> = serde_json::from_value(got.clone()).unwrap();
    assert_eq!(got.len(), want.len(), "{got:?} against {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-6, "{got:?} against {want:?}");
    }
}

#[tokio::test]
async fn browser_finds_joins_and_submits_to_its_federations_current_round() {
    let (app, round) = spawn_app_with_round(json!({"min_devices": 2, "clip_norm": 10.0})).await;
    // The browser's deltas: named Float32Arrays serialised as {data, shape}; devreg reads
    // them in name order (a, then b), whatever order they are sent in.
    let deltas = [
        (
            "browser-fl-1",
            json!({"b": {"data": [0.5], "shape": [1]}, "a": {"data": [0.25, -0.5], "shape": [2]}}),
            3u64,
        ),
        (
            "browser-fl-2",
            json!({"a": {"data": [0.75, 0.5], "shape": [2]}, "b": {"data": [-0.5], "shape": [1]}}),
            1u64,
        ),
    ];

    for (identifier, delta, samples) in &deltas {
        let (id, token) = browser_device(&app, identifier).await;
        let bearer = format!("Bearer {token}");
        let headers = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
        ];
        let current = sdk_send(
            &app,
            Method::GET,
            &format!("/api/v1/federations/{MODEL}/rounds/current"),
            &headers,
            None,
        )
        .await;
        assert_eq!(current.status, StatusCode::OK, "{}", current.body);
        has(
            &current.body,
            &[
                ("id", string),
                ("federationId", string),
                ("roundNumber", integer),
                ("status", string),
                ("modelVersion", string),
                ("config", Value::is_object),
            ],
            "browser FederatedRound",
        );
        assert_eq!(current.body["id"], round.id.as_str());
        assert_eq!(current.body["federationId"], MODEL);
        assert_eq!(current.body["roundNumber"], round.number);
        assert_eq!(current.body["status"], "in_progress");
        assert_eq!(current.body["modelVersion"], "1.0.0");

        let joined = sdk_send(
            &app,
            Method::POST,
            &format!("/api/v1/federations/{MODEL}/rounds/{}/join", round.id),
            &headers,
            Some(json!({"device_id": identifier})),
        )
        .await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
        assert_eq!(joined.body["device_id"], id.as_str());

        let submitted = sdk_send(
            &app,
            Method::POST,
            &format!("/api/v1/federations/{MODEL}/rounds/{}/submit", round.id),
            &headers,
            Some(json!({"device_id": identifier, "delta": delta,
                "metrics": {"loss": 0.4, "sample_count": samples}})),
        )
        .await;
        assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
        assert_eq!(submitted.body["sample_count"], *samples);
    }

    // (3 × [0.25, -0.5, 0.5] + 1 × [0.75, 0.5, -0.5]) / 4
    let result = result_of(&app, &round).await;
    assert_eq!(result["participants"], 2);
    assert_close(&result["aggregate"], &[0.375, -0.25, 0.25]);
}

#[tokio::test]
async fn a_browser_update_needs_a_join_its_federation_and_one_submission() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let (_, token) = browser_device(&app, "browser-fl-3").await;
    let bearer = format!("Bearer {token}");
    let headers = [("authorization", bearer.as_str())];
    let submit = |federation: &str| {
        format!(
            "/api/v1/federations/{federation}/rounds/{}/submit",
            round.id
        )
    };
    let body = json!({"device_id": "browser-fl-3", "delta": {"w": {"data": [1.0], "shape": [1]}}});

    let unjoined = sdk_send(
        &app,
        Method::POST,
        &submit(MODEL),
        &headers,
        Some(body.clone()),
    )
    .await;
    assert_eq!(unjoined.status, StatusCode::CONFLICT, "{}", unjoined.body);
    let other = sdk_send(
        &app,
        Method::POST,
        &submit("other-model"),
        &headers,
        Some(body.clone()),
    )
    .await;
    other.assert_error(404, "not_found");
    let none = sdk_send(
        &app,
        Method::GET,
        "/api/v1/federations/other-model/rounds/current",
        &headers,
        None,
    )
    .await;
    assert!(none.assert_error(404, "not_found").contains("other-model"));
    let publishable = format!("Bearer {}", app.publishable_key());
    let refused = sdk_send(
        &app,
        Method::POST,
        &submit(MODEL),
        &[("authorization", publishable.as_str())],
        Some(body.clone()),
    )
    .await;
    refused.assert_error(403, "forbidden");

    let join = format!("/api/v1/federations/{MODEL}/rounds/{}/join", round.id);
    let joined = sdk_send(
        &app,
        Method::POST,
        &join,
        &headers,
        Some(json!({"device_id": "browser-fl-3"})),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let bad = sdk_send(
        &app,
        Method::POST,
        &submit(MODEL),
        &headers,
        Some(json!({"delta": {"w": {"data": ["x"], "shape": [1]}}})),
    )
    .await;
    assert!(
        bad.assert_error(400, "bad_request")
            .contains("delta.w.data")
    );
    let first = sdk_send(
        &app,
        Method::POST,
        &submit(MODEL),
        &headers,
        Some(body.clone()),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = sdk_send(&app, Method::POST, &submit(MODEL), &headers, Some(body)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(app.count_rows("round_updates"), 1);
    assert_eq!(app.count_rows("round_uploads"), 0);
}

/// iOS `serializeToPyTorch` of named float32 arrays: `PTTH`, version 1, the count, then per
/// parameter (in name order) its name, shape, data type 0 and float32 data.
fn ptth(params: &[(&str, &[f32])]) -> Vec<u8> {
    let mut b = b"PTTH".to_vec();
    b.extend(1u32.to_be_bytes());
    b.extend((params.len() as u32).to_be_bytes());
    for (name, values) in params {
        b.extend((name.len() as u32).to_be_bytes());
        b.extend(name.as_bytes());
        b.extend(1u32.to_be_bytes());
        b.extend((values.len() as u32).to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(((values.len() * 4) as u32).to_be_bytes());
        for v in *values {
            b.extend(v.to_le_bytes());
        }
    }
    b
}

/// Standard base64 with padding, as Swift's `JSONEncoder` writes `Data`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn ios_upload_weights_goes_into_the_models_round_joining_it() {
    let (app, round) = spawn_app_with_round(json!({"min_devices": 2, "clip_norm": 10.0})).await;
    let updates: [(&str, Vec<u8>, u64); 2] = [
        (
            "iphone-fl-1",
            ptth(&[("w2", &[1.0]), ("w1", &[0.5, 2.0])]),
            1,
        ),
        (
            "iphone-fl-2",
            ptth(&[("w1", &[1.5, 0.0]), ("w2", &[-1.0])]),
            3,
        ),
    ];
    for (identifier, payload, samples) in &updates {
        let device = app
            .register_device_with(
                app.publishable_key(),
                json!({"device_identifier": identifier, "platform": "ios"}),
            )
            .await;
        let bearer = format!("Bearer {}", device.key);
        // WeightUpdate's CodingKeys: model_id, version, device_id, weights_data,
        // sample_count, metrics (dp_* only when DP was applied).
        let reply = sdk_send(
            &app,
            Method::POST,
            "/api/v1/training/weights",
            &[
                ("authorization", bearer.as_str()),
                ("user-agent", "octomil-ios/1.0"),
                ("content-type", "application/json"),
            ],
            Some(
                json!({"model_id": MODEL, "version": "1.0.0", "device_id": device.id,
                "weights_data": base64(payload), "sample_count": samples,
                "metrics": {"loss": 0.2}}),
            ),
        )
        .await;
        // APIEmptyResponse: any JSON object.
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert!(reply.body.is_object());
        assert_eq!(reply.body["round_id"], round.id.as_str());
    }

    // In name order (w1, w2): (1 × [0.5, 2, 1] + 3 × [1.5, 0, -1]) / 4
    let result = result_of(&app, &round).await;
    assert_eq!(result["participants"], 2);
    assert_close(&result["aggregate"], &[1.25, 0.5, -0.5]);
    let round_now = app.get_round(Some(app.secret_key()), &round.id).await;
    assert_eq!(round_now.body["status"], "completed");
    assert_eq!(round_now.body["participant_count"], 2);
}

#[tokio::test]
async fn weights_devreg_cannot_read_or_without_a_round_are_refused_and_keep_nothing() {
    let (app, _round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-weights-bad").await;
    let post = |body: Value| {
        let app = &app;
        let key = device.key.clone();
        async move { app.post("/api/v1/training/weights", Some(&key), body).await }
    };

    let pickle = post(json!({"model_id": MODEL, "weights_data": base64(b"\x80\x02torch")})).await;
    assert!(
        pickle
            .assert_error(400, "bad_request")
            .contains("torch.save")
    );
    let not_base64 = post(json!({"model_id": MODEL, "weights_data": "***"})).await;
    assert!(
        not_base64
            .assert_error(400, "bad_request")
            .contains("base64")
    );
    let no_round =
        post(json!({"model_id": "no-such-model", "weights_data": base64(b"[1.0]")})).await;
    assert!(
        no_round
            .assert_error(404, "not_found")
            .contains("no-such-model")
    );
    assert_eq!(app.count_rows("round_updates"), 0);
    assert_eq!(app.count_rows("round_participants"), 0);
}
