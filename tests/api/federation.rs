//! Federated rounds through the SDKs' paths: offers, join, plans, uploads in
//! parts, completion with the envelope's digest checked, FedAvg and the kept result.

use devreg::domain::Timestamp;
use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures::{MODEL, Upload, VERSION, dumps, envelope, spawn_app_with_round};
use crate::helpers::{Round, TestApp, read, spawn_app, spawn_app_with};
use crate::redact;

fn result_path(round: &Round) -> String {
    format!("/api/v1/training/rounds/{}/result", round.id)
}

fn event_types(app: &TestApp) -> Vec<String> {
    app.server
        .db()
        .read_sync(|conn| conn.query_all("SELECT type FROM events ORDER BY seq", &[], |r| r.get(0)))
        .unwrap()
}

#[tokio::test]
async fn three_devices_offer_join_plan_upload_and_the_result_is_their_weighted_mean() {
    let (app, round) = spawn_app_with_round(json!({"min_devices": 3})).await;
    let updates = [
        vec![0.1, -0.2, 0.05, 0.3],
        vec![0.02, 0.04, -0.06, 0.08],
        vec![-0.3, 0.1, 0.2, 0.0],
    ];
    let samples = [10u64, 30, 60];

    for (i, (update, n)) in updates.iter().zip(samples).enumerate() {
        let device = app.register_device(&format!("fl-{i}")).await;
        let offers = app
            .get(
                &format!("/api/v1/federation/offers?device_id={}", device.id),
                Some(&device.key),
            )
            .await;
        assert_eq!(offers.status, StatusCode::OK);
        let offer = &offers.body.as_array().expect("a JSON list")[0];
        assert_eq!(offer["round_id"], round.id);
        let plan = app
            .get(
                &format!(
                    "/api/v1/federation/plans/{}",
                    offer["plan_id"].as_str().unwrap()
                ),
                Some(&device.key),
            )
            .await;
        assert_eq!(plan.body["base_version"], VERSION);
        let reply = app.take_part(&device, &round, update, n).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["updates_received"], i as u64 + 1);
        let expected = if i == 2 { "completed" } else { "active" };
        assert_eq!(reply.body["round_status"], expected);
    }

    // The weighted mean, computed here independently of devreg.
    let total: u64 = samples.iter().sum();
    let expected: Vec<f64> = (0..4)
        .map(|j| {
            updates
                .iter()
                .zip(samples)
                .map(|(u, n)| n as f64 * u[j])
                .sum::<f64>()
                / total as f64
        })
        .collect();
    let result = app.get(&result_path(&round), Some(app.secret_key())).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    assert_eq!(result.body["round_id"], round.id);
    assert_eq!(result.body["participants"], 3);
    assert_eq!(result.body["sample_count"], total);
    assert_eq!(result.body["algorithm"], "fedavg");
    let aggregate: Vec<f64> = serde_json::from_value(result.body["aggregate"].clone()).unwrap();
    for (got, want) in aggregate.iter().zip(&expected) {
        assert!(
            (got - want).abs() <= 1e-12,
            "{aggregate:?} against {expected:?}"
        );
    }
    let round_now = app.get_round(Some(app.secret_key()), &round.id).await;
    assert_eq!(round_now.body["status"], "completed");
    let events = event_types(&app);
    assert_eq!(events.iter().filter(|e| *e == "round.joined").count(), 3);
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "round.update_received")
            .count(),
        3
    );
    assert_eq!(events.iter().filter(|e| *e == "round.completed").count(), 1);
}

#[tokio::test]
async fn start_round_names_a_model_version_and_refuses_one_that_does_not_exist() {
    let (app, round) = spawn_app_with_round(json!({"deadline_seconds": 60})).await;
    let body = app.get_round(Some(app.secret_key()), &round.id).await.body;
    assert_eq!(body["base_version"], VERSION);
    assert_eq!(body["plan_id"], round.id);
    assert!(body["deadline_at"].is_string(), "{body}");

    let missing = app
        .start_round(
            Some(app.secret_key()),
            json!({"model_id": MODEL, "base_version": "9.9"}),
        )
        .await;
    assert!(missing.assert_error(404, "not_found").contains("\"9.9\""));
    let alone = app
        .start_round(Some(app.secret_key()), json!({"base_version": VERSION}))
        .await;
    assert!(alone.assert_error(400, "bad_request").contains("model_id"));
    let bad = app
        .start_round(Some(app.secret_key()), json!({"noise_sigma": -1}))
        .await;
    assert!(bad.assert_error(400, "bad_request").contains("noise_sigma"));
}

#[tokio::test]
async fn the_plan_carries_every_field_each_sdk_requires() {
    let (app, round) = spawn_app_with_round(json!({"noise_sigma": 0.0, "clip_norm": 5.0})).await;
    let device = app.register_device("fl-plan").await;
    let models = app.get("/api/v1/models", Some(app.secret_key())).await;
    let artifact_id = models.body["models"][0]["versions"][0]["artifact_id"]
        .as_str()
        .unwrap();
    let in_a_day = |t: Timestamp| Timestamp(t.0 + 86_400);
    let before = in_a_day(app.server.now());
    let plan = app
        .get(
            &format!("/api/v1/federation/plans/{}", round.id),
            Some(&device.key),
        )
        .await;
    // The generated Python client's TrainingPlan forbids unknown keys.
    let contract = app
        .get(
            &format!("/api/v1/federation/plans/{}?view=contract", round.id),
            Some(&device.key),
        )
        .await;
    let after = in_a_day(app.server.now());

    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    assert_eq!(contract.status, StatusCode::OK, "{}", contract.body);
    for (name, body) in [("plan", &plan.body), ("plan_contract_view", &contract.body)] {
        insta::assert_json_snapshot!(name, body, {
            ".plan_id" => redact::is(&round.id, "[round.id]"),
            ".round_id" => redact::is(&round.id, "[round.id]"),
            ".planId" => redact::is(&round.id, "[round.id]"),
            ".roundId" => redact::is(&round.id, "[round.id]"),
            ".jobId" => redact::is(&round.id, "[round.id]"),
            ".modelArtifactId" => redact::is(artifact_id, "[artifact_id]"),
            ".expiresAt" => redact::time_within(before, after, "[a day from now]"),
        });
    }
    for view in ["", "full"] {
        app.get(
            &format!("/api/v1/federation/plans/{}?view={view}", round.id),
            Some(&device.key),
        )
        .await
        .assert_error(400, "bad_request");
    }
}

#[tokio::test]
async fn joining_twice_with_the_same_participation_changes_nothing_and_with_another_is_409() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-twice").await;
    let first = app.join_federated_round(&device, &round, "p-1").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["participation_id"], "p-1");
    let again = app.join_federated_round(&device, &round, "p-1").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["joined_at"], first.body["joined_at"]);
    let other = app.join_federated_round(&device, &round, "p-2").await;
    assert!(other.assert_error(409, "conflict").contains("\"p-1\""));
    let round_body = app.get_round(Some(app.secret_key()), &round.id).await.body;
    assert_eq!(round_body["participant_count"], 1);
    assert_eq!(
        event_types(&app)
            .iter()
            .filter(|e| *e == "round.joined")
            .count(),
        1
    );
}

#[tokio::test]
async fn uploading_to_a_round_not_joined_is_409() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-stranger").await;
    let reply = app
        .post(
            &format!("/api/v1/federation/rounds/{}/uploads", round.id),
            Some(&device.key),
            json!({"participation_id": "p", "meta": {}}),
        )
        .await;
    assert!(
        reply
            .assert_error(409, "conflict")
            .contains("has not joined")
    );
}

#[tokio::test]
async fn uploading_under_another_participation_id_is_409() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-pid").await;
    app.join_federated_round(&device, &round, "mine").await;
    let reply = app
        .post(
            &format!("/api/v1/federation/rounds/{}/uploads", round.id),
            Some(&device.key),
            json!({"participation_id": "not-mine", "meta": {}}),
        )
        .await;
    assert!(reply.assert_error(409, "conflict").contains("\"not-mine\""));
}

#[tokio::test]
async fn a_device_of_another_org_sees_no_offer_and_cannot_join_or_send_parts() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let mine = app.register_device("fl-mine").await;
    app.join_federated_round(&mine, &round, "p").await;
    let urls = app.start_upload(&mine, &round, json!({})).await.part_urls;
    let other = app.create_org("elsewhere");
    let stranger = app
        .register_device_with(&other.secret_key, json!({"device_id": "fl-other"}))
        .await;

    let offers = app
        .get("/api/v1/federation/offers", Some(&stranger.key))
        .await;
    assert_eq!(offers.body, json!([]));
    app.join_federated_round(&stranger, &round, "q")
        .await
        .assert_error(404, "not_found");
    let plan = app
        .get(
            &format!("/api/v1/federation/plans/{}", round.id),
            Some(&stranger.key),
        )
        .await;
    plan.assert_error(404, "not_found");
    app.put_part(&stranger.key, &urls[0], b"x")
        .await
        .assert_error(404, "not_found");
    app.get(&result_path(&round), Some(&other.secret_key))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_completed_round_refuses_joins_uploads_parts_and_completions() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-late").await;
    app.join_federated_round(&device, &round, "p").await;
    let data = dumps(&[1.0, 2.0]);
    let Upload {
        id: upload_id,
        part_urls: urls,
    } = app.start_upload(&device, &round, json!({})).await;
    app.end_round(Some(app.secret_key()), &round.id, "complete")
        .await;

    let late = app.register_device("fl-later").await;
    app.join_federated_round(&late, &round, "q")
        .await
        .assert_error(409, "conflict");
    let reply = app
        .post(
            &format!("/api/v1/federation/rounds/{}/uploads", round.id),
            Some(&device.key),
            json!({}),
        )
        .await;
    reply.assert_error(409, "conflict");
    app.put_part(&device.key, &urls[0], envelope(&data).as_bytes())
        .await
        .assert_error(409, "conflict");
    app.complete_upload(&device, &round, &upload_id, json!({}))
        .await
        .assert_error(409, "conflict");
    // Completed with no update: no result.
    app.get(&result_path(&round), Some(app.secret_key()))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_part_over_the_part_limit_or_an_upload_over_its_limit_is_413() {
    let app = spawn_app_with(|c| {
        c.upload_part_bytes = 2048;
        c.upload_max_bytes = 4096;
    })
    .await;
    let round = app.start_round_on_model(json!({})).await;
    let device = app.register_device("fl-big").await;
    app.join_federated_round(&device, &round, "p").await;
    let urls = app.start_upload(&device, &round, json!({})).await.part_urls;
    assert!(urls.len() >= 3, "{urls:?}");

    let message = app.put_part(&device.key, &urls[0], &[b' '; 2049]).await;
    assert!(
        message
            .assert_error(413, "payload_too_large")
            .contains("2048")
    );
    for url in &urls[..2] {
        let ok = app.put_part(&device.key, url, &[b' '; 2000]).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    }
    app.put_part(&device.key, &urls[2], &[b' '; 200])
        .await
        .assert_error(413, "payload_too_large");
    // A size over the limit is refused when the upload starts.
    let reply = app
        .post(
            &format!("/api/v1/federation/rounds/{}/uploads", round.id),
            Some(&device.key),
            json!({"meta": {"size": 5000}}),
        )
        .await;
    reply.assert_error(413, "payload_too_large");
}

#[tokio::test]
async fn parts_may_come_in_any_order_and_a_part_sent_twice_is_stored_once() {
    let app = spawn_app_with(|c| {
        c.upload_part_bytes = 1024;
        c.upload_max_bytes = 1 << 20;
    })
    .await;
    // A plan norm the update is within, so it is kept as sent.
    let round = app.start_round_on_model(json!({"clip_norm": 1e6})).await;
    let device = app.register_device("fl-order").await;
    app.join_federated_round(&device, &round, "p").await;
    let update: Vec<f64> = (0..300).map(|i| f64::from(i) / 7.0).collect();
    let data = dumps(&update);
    let bytes = envelope(&data).into_bytes();
    let Upload {
        id: upload_id,
        part_urls: urls,
    } = app
        .start_upload(&device, &round, json!({"size": data.len()}))
        .await;
    assert!(
        urls.len() > 2,
        "{} bytes in {} parts",
        bytes.len(),
        urls.len()
    );
    let n = urls.len();
    let chunk = bytes.len() / n;
    let slice = |i: usize| {
        &bytes[i * chunk..if i < n - 1 {
            (i + 1) * chunk
        } else {
            bytes.len()
        }]
    };
    for i in (0..n).rev() {
        app.put_part(&device.key, &urls[i], slice(i)).await;
    }
    let again = app.put_part(&device.key, &urls[0], slice(0)).await;
    assert_eq!(again.body["stored_bytes"], bytes.len());

    let reply = app
        .complete_upload(&device, &round, &upload_id, json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    app.end_round(Some(app.secret_key()), &round.id, "complete")
        .await;
    let result = app.get(&result_path(&round), Some(app.secret_key())).await;
    let aggregate: Vec<f64> = serde_json::from_value(result.body["aggregate"].clone()).unwrap();
    assert_eq!(aggregate, update);
    assert_eq!(result.body["sample_count"], 1, "no sample_count weighs 1");
}

#[tokio::test]
async fn a_wrong_digest_is_400_and_nothing_is_kept() {
    let (app, round) = spawn_app_with_round(json!({"min_devices": 1})).await;
    let device = app.register_device("fl-bad").await;
    app.join_federated_round(&device, &round, "p").await;
    let good = envelope("[0.5, 0.25]");
    let bad = good.replace("[0.5, 0.25]", "[0.5, 0.75]");
    let Upload {
        id: upload_id,
        part_urls: urls,
    } = app
        .start_upload(&device, &round, json!({"sample_count": 5}))
        .await;
    app.upload_parts(&device, &urls, bad.as_bytes()).await;

    let reply = app
        .complete_upload(&device, &round, &upload_id, json!({"sample_count": 5}))
        .await;
    assert!(reply.assert_error(400, "bad_request").contains("sha256"));
    // The upload is gone, the round has no update and takes a good one.
    app.complete_upload(&device, &round, &upload_id, json!({}))
        .await
        .assert_error(404, "not_found");
    app.get(&result_path(&round), Some(app.secret_key()))
        .await
        .assert_error(409, "conflict");
    let Upload {
        id: upload_id,
        part_urls: urls,
    } = app.start_upload(&device, &round, json!({})).await;
    app.upload_parts(&device, &urls, good.as_bytes()).await;
    let ok = app
        .complete_upload(&device, &round, &upload_id, json!({"sample_count": 5}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let result = app.get(&result_path(&round), Some(app.secret_key())).await;
    assert_eq!(result.body["aggregate"], json!([0.5, 0.25]));
    assert_eq!(result.body["sample_count"], 5);
}

#[tokio::test]
async fn a_wrong_size_is_400() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-size").await;
    app.join_federated_round(&device, &round, "p").await;
    let lying = envelope("[0.5]").replace("\"size\": 5", "\"size\": 6");
    let Upload {
        id: upload_id,
        part_urls: urls,
    } = app.start_upload(&device, &round, json!({})).await;
    app.upload_parts(&device, &urls, lying.as_bytes()).await;
    let reply = app
        .complete_upload(&device, &round, &upload_id, json!({}))
        .await;
    assert!(reply.assert_error(400, "bad_request").contains("size"));
}

#[tokio::test]
async fn updates_of_different_lengths_are_refused_at_completion() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let first = app.register_device("fl-len-1").await;
    let second = app.register_device("fl-len-2").await;
    assert_eq!(
        app.take_part(&first, &round, &[1.0, 2.0, 3.0], 1)
            .await
            .status,
        StatusCode::OK
    );
    let reply = app.take_part(&second, &round, &[1.0, 2.0], 1).await;
    let message = reply.assert_error(400, "bad_request");
    assert!(
        message.contains("2 numbers") && message.contains("3"),
        "{message}"
    );
    let status = app
        .get(
            &format!("/api/v1/training/rounds/{}/status", round.id),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(status.body["updates_received"], 1);
}

#[tokio::test]
async fn a_device_sends_one_update_per_round() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-once").await;
    assert_eq!(
        app.take_part(&device, &round, &[1.0], 1).await.status,
        StatusCode::OK
    );
    let reply = app
        .post(
            &format!("/api/v1/federation/rounds/{}/uploads", round.id),
            Some(&device.key),
            json!({}),
        )
        .await;
    assert!(reply.assert_error(409, "conflict").contains("already sent"));
    let offers = app
        .get("/api/v1/federation/offers", Some(&device.key))
        .await;
    assert_eq!(
        offers.body,
        json!([]),
        "a round with the device's update is offered no more"
    );
}

#[tokio::test]
async fn a_round_that_never_gets_enough_updates_stays_active_then_completes_at_its_deadline() {
    let (app, round) =
        spawn_app_with_round(json!({"min_devices": 3, "deadline_seconds": 600, "clip_norm": 10}))
            .await;
    let device = app.register_device("fl-alone").await;
    assert_eq!(
        app.take_part(&device, &round, &[2.0, 4.0], 3).await.status,
        StatusCode::OK
    );
    let waiting = app.get(&result_path(&round), Some(app.secret_key())).await;
    assert!(
        waiting
            .assert_error(409, "conflict")
            .contains("1 update(s) of the 3")
    );

    app.server.advance_clock(601);
    let late = app.register_device("fl-too-late").await;
    app.join_federated_round(&late, &round, "p")
        .await
        .assert_error(409, "conflict");
    let result = app.get(&result_path(&round), Some(app.secret_key())).await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.body);
    assert_eq!(result.body["participants"], 1);
    assert_eq!(result.body["aggregate"], json!([2.0, 4.0]));
    assert_eq!(
        app.get_round(Some(app.secret_key()), &round.id).await.body["status"],
        "completed"
    );
    // Its heartbeat no longer offers it.
    assert_eq!(
        app.pending_round(&late).await,
        crate::helpers::Pending::none()
    );
}

#[tokio::test]
async fn the_operator_completes_a_round_with_the_updates_it_has() {
    let (app, round) = spawn_app_with_round(json!({"min_devices": 10})).await;
    let a = app.register_device("fl-op-a").await;
    let b = app.register_device("fl-op-b").await;
    app.take_part(&a, &round, &[1.0, 0.0], 1).await;
    app.take_part(&b, &round, &[0.0, 1.0], 3).await;
    let done = app
        .end_round(Some(app.secret_key()), &round.id, "complete")
        .await;
    assert_eq!(done.status, StatusCode::OK);
    let result = app.get(&result_path(&round), Some(&a.key)).await;
    assert_eq!(result.body["aggregate"], json!([0.25, 0.75]));
    assert_eq!(result.body["sample_count"], 4);

    let cancelled = app.start_round_ok(json!({})).await;
    app.end_round(Some(app.secret_key()), &cancelled.id, "cancel")
        .await;
    app.get(&result_path(&cancelled), Some(app.secret_key()))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn offers_follow_the_heartbeats_targeting() {
    let app = spawn_app().await;
    let ios_round = app
        .start_round_on_model(json!({"platforms": ["ios"]}))
        .await;
    let every = app.start_round_ok(json!({})).await;
    let python = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "fl-py", "platform": "python"}),
        )
        .await;
    let offers = app
        .get("/api/v1/federation/offers", Some(&python.key))
        .await;
    let ids: Vec<&str> = offers
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["round_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [every.id.as_str()]);
    assert_ne!(ids[0], ios_round.id);
    // The secret key names the device; the generated contract's path answers an object.
    let generated = app
        .get(
            "/api/v1/federation/rounds/offers?deviceId=fl-py",
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(generated.body["offers"][0]["planId"], every.id);
    app.get("/api/v1/federation/offers", Some(app.secret_key()))
        .await
        .assert_error(400, "bad_request");
    app.get(
        "/api/v1/federation/offers?device_id=someone-else",
        Some(&python.key),
    )
    .await
    .assert_error(404, "not_found");
    // An inactive device is offered nothing.
    app.heartbeat(
        Some(&python.key),
        &python.id,
        Some(json!({"status": "inactive"})),
    )
    .await;
    assert_eq!(
        app.get("/api/v1/federation/offers", Some(&python.key))
            .await
            .body,
        json!([])
    );
}

#[tokio::test]
async fn the_generated_contracts_paths_walk_the_same_round() {
    let (app, round) = spawn_app_with_round(json!({"min_devices": 1})).await;
    let device = app.register_device("fl-contract").await;
    let joined = app
        .post(
            &format!("/api/v1/federation/rounds/{}/join", round.id),
            Some(&device.key),
            json!({"deviceId": "fl-contract"}),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert!(joined.body["participationId"].is_string());
    let beat = app
        .post(
            &format!("/api/v1/federation/rounds/{}/heartbeat", round.id),
            Some(&device.key),
            json!({"deviceId": "fl-contract"}),
        )
        .await;
    assert_eq!(beat.body["joined"], true);
    assert_eq!(beat.body["update_received"], false);

    let started = app
        .post(
            &format!("/api/v1/federation/rounds/{}/updates/initiate", round.id),
            Some(&device.key),
            json!({}),
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let upload_id = started.body["uploadId"].as_str().unwrap().to_owned();
    let urls: Vec<String> = serde_json::from_value(started.body["partUrls"].clone()).unwrap();
    app.upload_parts(&device, &urls, envelope("[3.0]").as_bytes())
        .await;
    let done = app
        .post(
            &format!(
                "/api/v1/federation/rounds/{}/updates/{upload_id}/complete",
                round.id
            ),
            Some(&device.key),
            json!({}),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["round_status"], "completed");
    let beat = app
        .post(
            &format!("/api/v1/federation/rounds/{}/heartbeat", round.id),
            Some(&device.key),
            json!({}),
        )
        .await;
    assert_eq!(beat.body["status"], "completed");
    assert_eq!(beat.body["update_received"], true);
}

#[tokio::test]
async fn parts_and_uploads_take_only_the_devices_own_key() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-keys").await;
    let other = app.register_device("fl-keys-other").await;
    app.join_federated_round(&device, &round, "p").await;
    let urls = app.start_upload(&device, &round, json!({})).await.part_urls;
    assert!(
        urls[0].starts_with(&app.server.url().to_string()),
        "{}",
        urls[0]
    );
    app.put_part(&other.key, &urls[0], b"x")
        .await
        .assert_error(404, "not_found");
    app.put_part(app.secret_key(), &urls[0], b"x")
        .await
        .assert_error(403, "forbidden");
    let anonymous = read(app.client.put(&urls[0]).body("x").send().await.unwrap()).await;
    anonymous.assert_error(401, "unauthorized");
}

#[tokio::test]
async fn the_legacy_status_path_serves_the_round_and_its_base_version() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let status = app
        .get(
            &format!("/api/v1/training/rounds/{}/status", round.id),
            Some(app.secret_key()),
        )
        .await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["config"]["model_id"], MODEL);
    assert_eq!(status.body["config"]["version"], VERSION);
}

#[tokio::test]
async fn a_legacy_join_counts_as_joining_once_and_the_agent_then_names_its_participation() {
    let (app, round) = spawn_app_with_round(json!({})).await;
    let device = app.register_device("fl-legacy").await;
    let legacy = app.join_round(Some(&device.key), &round.id, None).await;
    assert_eq!(legacy.status, StatusCode::OK, "{}", legacy.body);
    let agent = app.join_federated_round(&device, &round, "agent-pid").await;
    assert_eq!(agent.status, StatusCode::OK, "{}", agent.body);
    assert_eq!(agent.body["participation_id"], "agent-pid");
    assert_eq!(
        event_types(&app)
            .iter()
            .filter(|e| *e == "round.joined")
            .count(),
        1
    );
}
