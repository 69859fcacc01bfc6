//! Node's and the browser's training jobs over the same rounds (issue 27, item 4):
//! `TrainingClient.createJob`, `jobStatus`, `jobComplete` (octomil-node@509709d
//! src/training.ts:22-56, octomil-browser@8be93b4 src/training.ts:22-56) POST any JSON
//! object and read the answer untyped, so each answer is checked for what a job is here:
//! the device's part in a round, the round's id its job id.

use serde_json::json;

use crate::fixtures::{dumps, envelope};
use crate::helpers::spawn_app;

#[tokio::test]
async fn a_job_joins_the_offered_round_and_completes_once_its_update_is_in() {
    let app = spawn_app().await;
    let round = app.start_round_on_model(json!({"min_devices": 2})).await;
    let device = app.register_device("node-trainer").await;
    let jobs = format!("/api/v1/devices/{}/training-jobs", device.id);

    let created = app
        .post(
            &jobs,
            Some(&device.key),
            json!({"capabilities": {"cpu": "4"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["job_id"], round.id.as_str());
    assert_eq!(created.body["plan_id"], round.id.as_str());
    assert_eq!(created.body["status"], "joined");
    assert!(created.body["participation_id"].is_string());
    let again = app
        .post(&jobs, Some(&device.key), json!({"round_id": round.id}))
        .await;
    assert_eq!(
        again.status, 201,
        "joining again changes nothing: {}",
        again.body
    );

    let job = format!("{jobs}/{}", round.id);
    let status = app
        .post(
            &format!("{job}/status"),
            Some(&device.key),
            json!({"progress": 0.5}),
        )
        .await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["status"], "joined");
    assert_eq!(status.body["update_received"], false);
    let early = app
        .post(&format!("{job}/complete"), Some(&device.key), json!({}))
        .await;
    assert!(early.assert_error(409, "conflict").contains("uploads"));

    let data = dumps(&[0.5, -1.0]);
    let meta = json!({"sample_count": 4, "size": data.len()});
    let upload = app.start_upload(&device, &round, meta.clone()).await;
    app.upload_parts(&device, &upload.part_urls, envelope(&data).as_bytes())
        .await;
    let sent = app.complete_upload(&device, &round, &upload.id, meta).await;
    assert_eq!(sent.status, 200, "{}", sent.body);

    let done = app
        .post(&format!("{job}/complete"), Some(&device.key), json!({}))
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["status"], "update_received");
    assert_eq!(done.body["updates_received"], 1);
    assert_eq!(done.body["round_status"], "active");
}

#[tokio::test]
async fn a_job_with_nothing_offered_is_a_409_and_another_devices_jobs_are_a_404() {
    let app = spawn_app().await;
    let device = app.register_device("idle-trainer").await;
    let other = app.register_device("other-trainer").await;

    let nothing = app
        .post(
            &format!("/api/v1/devices/{}/training-jobs", device.id),
            Some(&device.key),
            json!({}),
        )
        .await;
    assert!(nothing.assert_error(409, "conflict").contains("offered"));
    let round = app.start_round_on_model(json!({})).await;
    let theirs = app
        .post(
            &format!(
                "/api/v1/devices/{}/training-jobs/{}/status",
                other.id, round.id
            ),
            Some(&device.key),
            json!({}),
        )
        .await;
    theirs.assert_error(404, "not_found");
}
