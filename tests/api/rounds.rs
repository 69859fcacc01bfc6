//! Training rounds: the endpoints' shapes and errors, and what the heartbeat then offers.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Pending, spawn_app};
use crate::redact;
use crate::register::is_rfc3339_whole_seconds;

// ---------------------------------------------------------------------------------------
// Start

#[tokio::test]
async fn start_round_returns_201_with_every_field() {
    let app = spawn_app().await;

    let reply = app
        .start_round(
            Some(app.secret_key()),
            json!({"model_id": "keyboard-v3", "platforms": ["ios", "android"], "min_devices": 5}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let body = &reply.body;
    assert_eq!(body["updated_at"], body["created_at"]);
    insta::assert_json_snapshot!(body, {
        ".id" => redact::uuid(),
        ".plan_id" => redact::is(body["id"].as_str().unwrap(), "[id]"),
        ".created_at" => redact::time(),
        ".updated_at" => redact::time(),
    });
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/training/rounds/{id}").as_str())
    );
}

#[tokio::test]
async fn start_round_with_an_empty_body_targets_every_platform() {
    let app = spawn_app().await;

    let reply = app
        .send(
            reqwest::Method::POST,
            "/api/v1/training/rounds",
            Some(app.secret_key()),
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["model_id"], json!(null));
    assert_eq!(reply.body["platforms"], json!([]));
    assert_eq!(reply.body["min_devices"], json!(null));
}

#[tokio::test]
async fn rounds_are_numbered_from_1_within_each_org() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");

    let first = app.start_round_ok(json!({})).await;
    let second = app.start_round_ok(json!({})).await;
    let theirs = app.start_round_in(&other.secret_key, json!({})).await;
    let third = app.start_round_ok(json!({})).await;

    assert_eq!(
        (first.number, second.number, third.number, theirs.number),
        (1, 2, 3, 1)
    );
}

#[tokio::test]
async fn concurrent_starts_get_distinct_consecutive_numbers() {
    let app = spawn_app().await;

    let replies = futures::future::join_all(
        (0..20).map(|_| app.start_round(Some(app.secret_key()), json!({}))),
    )
    .await;

    let mut numbers: Vec<i64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["number"].as_i64().unwrap()
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn start_round_refuses_a_bad_field_by_name_and_stores_nothing() {
    let app = spawn_app().await;

    for (body, field) in [
        (json!({"platforms": "ios"}), "platforms"),
        (json!({"platforms": ["iOS"]}), "platforms[0]"),
        (json!({"min_devices": 0}), "min_devices"),
        (json!({"min_devices": "5"}), "min_devices"),
        (json!({"model_id": ""}), "model_id"),
    ] {
        let reply = app.start_round(Some(app.secret_key()), body.clone()).await;
        let message = reply.assert_error(400, "bad_request");
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let list = app
        .list_rounds(Some(app.secret_key()), "org_id=org_demo")
        .await;
    assert_eq!(list.body["total"], 0);
}

#[tokio::test]
async fn start_round_ignores_unknown_fields() {
    let app = spawn_app().await;

    let reply = app
        .start_round(
            Some(app.secret_key()),
            json!({"model_id": "m", "learning_rate": 0.1}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert!(reply.body.get("learning_rate").is_none());
}

#[tokio::test]
async fn start_round_refuses_another_orgs_id_with_403() {
    let app = spawn_app().await;
    app.create_org("org_other");

    let reply = app
        .start_round(Some(app.secret_key()), json!({"org_id": "org_other"}))
        .await;

    let message = reply.assert_error(403, "forbidden");
    assert!(message.contains("org_other"), "{message}");
}

// ---------------------------------------------------------------------------------------
// Credentials

#[tokio::test]
async fn every_round_endpoint_needs_a_key() {
    let app = spawn_app().await;
    let round = app.start_round_ok(json!({})).await;

    let replies = [
        app.start_round(None, json!({})).await,
        app.list_rounds(None, "").await,
        app.get_round(None, &round.id).await,
        app.join_round(None, &round.id, None).await,
        app.end_round(None, &round.id, "complete").await,
        app.end_round(None, &round.id, "cancel").await,
    ];

    for reply in &replies {
        reply.assert_error(401, "unauthorized");
    }
}

#[tokio::test]
async fn a_publishable_key_gets_403_from_every_round_endpoint() {
    let app = spawn_app().await;
    let device = app.register_device("phone-1").await;
    let round = app.start_round_ok(json!({})).await;
    let key = Some(app.publishable_key());

    let replies = [
        app.start_round(key, json!({})).await,
        app.list_rounds(key, "").await,
        app.get_round(key, &round.id).await,
        app.join_round(key, &round.id, Some(json!({"device_id": device.id})))
            .await,
        app.end_round(key, &round.id, "complete").await,
        app.end_round(key, &round.id, "cancel").await,
    ];

    for reply in &replies {
        reply.assert_error(403, "forbidden");
    }
    assert_eq!(app.pending_round(&device).await, Pending::round(&round));
}

#[tokio::test]
async fn a_device_key_cannot_start_complete_or_cancel_rounds() {
    let app = spawn_app().await;
    let device = app.register_device("phone-1").await;
    let round = app.start_round_ok(json!({})).await;
    let key = Some(device.key.as_str());

    let start = app.start_round(key, json!({})).await;
    let complete = app.end_round(key, &round.id, "complete").await;
    let cancel = app.end_round(key, &round.id, "cancel").await;

    for reply in [&start, &complete, &cancel] {
        let message = reply.assert_error(403, "forbidden");
        assert!(message.contains("secret key"), "{message}");
    }
    let after = app.get_round(Some(app.secret_key()), &round.id).await;
    assert_eq!(after.body["status"], "active");
}

// ---------------------------------------------------------------------------------------
// List and retrieve

#[tokio::test]
async fn list_rounds_filters_by_status_oldest_first_and_pages() {
    let app = spawn_app().await;
    let one = app.start_round_ok(json!({})).await;
    let two = app.start_round_ok(json!({})).await;
    let three = app.start_round_ok(json!({})).await;
    let four = app.start_round_ok(json!({})).await;
    app.end_round(Some(app.secret_key()), &two.id, "complete")
        .await;
    app.end_round(Some(app.secret_key()), &three.id, "cancel")
        .await;
    let key = Some(app.secret_key());

    let all = app.list_rounds(key, "org_id=org_demo").await;
    let active = app.list_rounds(key, "status=active").await;
    let completed = app.list_rounds(key, "status=completed").await;
    let page = app.list_rounds(key, "limit=2&offset=1").await;

    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let ids = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.body["rounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&all),
        [&one.id, &two.id, &three.id, &four.id].map(String::as_str)
    );
    assert_eq!(
        (&all.body["total"], &all.body["limit"], &all.body["offset"]),
        (&json!(4), &json!(100), &json!(0))
    );
    assert_eq!(ids(&active), [one.id.as_str(), four.id.as_str()]);
    assert_eq!(active.body["total"], 2);
    assert_eq!(ids(&completed), [two.id.as_str()]);
    assert_eq!(ids(&page), [two.id.as_str(), three.id.as_str()]);
    assert_eq!(page.body["total"], 4);
    assert_eq!(all.body["rounds"][1]["status"], "completed");
    assert_eq!(all.body["rounds"][2]["status"], "cancelled");
}

#[tokio::test]
async fn list_rounds_refuses_bad_parameters_by_name() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());

    for (query, field) in [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
    ] {
        let reply = app.list_rounds(key, query).await;
        let message = reply.assert_error(400, "bad_request");
        assert!(message.starts_with(field), "{query}: {message}");
    }
}

#[tokio::test]
async fn list_rounds_of_another_org_is_403() {
    let app = spawn_app().await;
    app.create_org("org_other");

    let reply = app
        .list_rounds(Some(app.secret_key()), "org_id=org_other")
        .await;

    reply.assert_error(403, "forbidden");
}

#[tokio::test]
async fn a_device_key_lists_only_the_rounds_for_its_platform() {
    let app = spawn_app().await;
    let phone = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "phone-1", "platform": "ios"}),
        )
        .await;
    let for_ios = app.start_round_ok(json!({"platforms": ["ios"]})).await;
    app.start_round_ok(json!({"platforms": ["android"]})).await;
    let for_all = app.start_round_ok(json!({})).await;
    let ended = app
        .start_round_ok(json!({"platforms": ["ios", "android"]}))
        .await;
    app.end_round(Some(app.secret_key()), &ended.id, "complete")
        .await;

    let polled = app
        .list_rounds(
            Some(&phone.key),
            &format!("device_id={}&status=active", phone.id),
        )
        .await;
    let all_statuses = app.list_rounds(Some(&phone.key), "").await;
    let by_secret_key = app
        .list_rounds(Some(app.secret_key()), "device_id=phone-1")
        .await;

    assert_eq!(polled.status, StatusCode::OK, "{}", polled.body);
    let numbers = |reply: &crate::helpers::Reply| -> Vec<i64> {
        reply.body["rounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["number"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(numbers(&polled), [for_ios.number, for_all.number]);
    assert_eq!(polled.body["total"], 2);
    assert_eq!(
        numbers(&all_statuses),
        [for_ios.number, for_all.number, ended.number]
    );
    assert_eq!(numbers(&by_secret_key), numbers(&all_statuses));
}

#[tokio::test]
async fn listing_rounds_for_another_device_or_an_unknown_one_is_404() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;
    let other_phone = app.register_device("phone-2").await;

    let device_key = app
        .list_rounds(Some(&phone.key), &format!("device_id={}", other_phone.id))
        .await;
    let secret_key = app
        .list_rounds(Some(app.secret_key()), "device_id=nobody")
        .await;

    device_key.assert_error(404, "not_found");
    secret_key.assert_error(404, "not_found");
}

#[tokio::test]
async fn get_round_by_id_or_by_number() {
    let app = spawn_app().await;
    app.start_round_ok(json!({})).await;
    let second = app.start_round_ok(json!({"model_id": "m2"})).await;

    let by_id = app.get_round(Some(app.secret_key()), &second.id).await;
    let by_number = app.get_round(Some(app.secret_key()), "2").await;

    assert_eq!(by_id.status, StatusCode::OK, "{}", by_id.body);
    assert_eq!(by_id.body["number"], 2);
    assert_eq!(by_id.body["model_id"], "m2");
    assert_eq!(by_number.body, by_id.body);
}

#[tokio::test]
async fn get_round_is_404_for_unknown_rounds_and_other_orgs_rounds() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let theirs = app.start_round_in(&other.secret_key, json!({})).await;
    let stranger = app
        .register_device_with(&other.secret_key, json!({"device_id": "x"}))
        .await;
    let ours = app.start_round_ok(json!({})).await;

    let unknown = app
        .get_round(Some(app.secret_key()), &uuid::Uuid::new_v4().to_string())
        .await;
    let other_org = app.get_round(Some(app.secret_key()), &theirs.id).await;
    let other_device = app.get_round(Some(&stranger.key), &ours.id).await;
    let not_a_reference = app.get_round(Some(app.secret_key()), "latest").await;

    for reply in [&unknown, &other_org, &other_device, &not_a_reference] {
        reply.assert_error(404, "not_found");
    }
}

#[tokio::test]
async fn a_device_key_cannot_see_a_round_for_another_platform() {
    let app = spawn_app().await;
    let phone = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "phone-1", "platform": "ios"}),
        )
        .await;
    let for_android = app.start_round_ok(json!({"platforms": ["android"]})).await;
    let for_ios = app.start_round_ok(json!({"platforms": ["ios"]})).await;

    let hidden = app.get_round(Some(&phone.key), &for_android.id).await;
    let visible = app.get_round(Some(&phone.key), &for_ios.id).await;

    hidden.assert_error(404, "not_found");
    assert_eq!(visible.status, StatusCode::OK, "{}", visible.body);
}

// ---------------------------------------------------------------------------------------
// Join

#[tokio::test]
async fn a_device_joins_with_its_own_key_and_joining_again_changes_nothing() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;
    let round = app.start_round_ok(json!({})).await;

    let first = app.join_round(Some(&phone.key), &round.id, None).await;
    let second = app
        .join_round(
            Some(&phone.key),
            &round.number.to_string(),
            Some(json!({"device_id": "phone-1"})),
        )
        .await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    insta::assert_json_snapshot!(first.body, {
        ".round_id" => redact::is(&round.id, "[round.id]"),
        ".round.id" => redact::is(&round.id, "[round.id]"),
        ".round.plan_id" => redact::is(&round.id, "[round.id]"),
        ".id" => redact::is(&phone.id, "[phone.id]"),
        ".joined_at" => redact::time(),
        ".round.created_at" => redact::time(),
        ".round.updated_at" => redact::time(),
    });
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body, first.body);
    let stored = app.get_round(Some(app.secret_key()), &round.id).await;
    assert_eq!(stored.body["participant_count"], 1);
}

#[tokio::test]
async fn the_secret_key_joins_a_device_named_in_the_body() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;
    let tablet = app.register_device("tablet-1").await;
    let round = app.start_round_ok(json!({})).await;

    let by_identifier = app
        .join_round(
            Some(app.secret_key()),
            &round.id,
            Some(json!({"device_id": "phone-1"})),
        )
        .await;
    let by_uuid = app
        .join_round(
            Some(app.secret_key()),
            &round.id,
            Some(json!({"device_identifier": tablet.id})),
        )
        .await;

    assert_eq!(
        by_identifier.status,
        StatusCode::OK,
        "{}",
        by_identifier.body
    );
    assert_eq!(by_identifier.body["id"], phone.id.as_str());
    assert_eq!(by_uuid.status, StatusCode::OK, "{}", by_uuid.body);
    assert_eq!(by_uuid.body["device_id"], "tablet-1");
    assert_eq!(by_uuid.body["round"]["participant_count"], 2);
}

#[tokio::test]
async fn the_secret_key_must_name_the_device_that_joins() {
    let app = spawn_app().await;
    let round = app.start_round_ok(json!({})).await;

    let reply = app
        .join_round(Some(app.secret_key()), &round.id, None)
        .await;

    let message = reply.assert_error(400, "bad_request");
    assert!(message.starts_with("device_id"), "{message}");
}

#[tokio::test]
async fn join_is_404_for_other_orgs_rounds_other_devices_and_unknown_ones() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let theirs = app.start_round_in(&other.secret_key, json!({})).await;
    let their_device = app
        .register_device_with(&other.secret_key, json!({"device_id": "x"}))
        .await;
    let phone = app.register_device("phone-1").await;
    let tablet = app.register_device("tablet-1").await;
    let ours = app.start_round_ok(json!({})).await;

    let other_orgs_round = app.join_round(Some(&phone.key), &theirs.id, None).await;
    let other_device = app
        .join_round(
            Some(&phone.key),
            &ours.id,
            Some(json!({"device_id": tablet.id})),
        )
        .await;
    let other_orgs_device = app
        .join_round(
            Some(app.secret_key()),
            &ours.id,
            Some(json!({"device_id": their_device.id})),
        )
        .await;
    let unknown_round = app.join_round(Some(&phone.key), "99", None).await;

    for reply in [
        &other_orgs_round,
        &other_device,
        &other_orgs_device,
        &unknown_round,
    ] {
        reply.assert_error(404, "not_found");
    }
    let stored = app.get_round(Some(app.secret_key()), &ours.id).await;
    assert_eq!(stored.body["participant_count"], 0);
}

#[tokio::test]
async fn joining_a_finished_round_is_409() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;
    let completed = app.start_round_ok(json!({})).await;
    let cancelled = app.start_round_ok(json!({})).await;
    app.end_round(Some(app.secret_key()), &completed.id, "complete")
        .await;
    app.end_round(Some(app.secret_key()), &cancelled.id, "cancel")
        .await;

    let late = app.join_round(Some(&phone.key), &completed.id, None).await;
    let too_late = app.join_round(Some(&phone.key), &cancelled.id, None).await;

    let message = late.assert_error(409, "conflict");
    assert!(message.contains("completed"), "{message}");
    let message = too_late.assert_error(409, "conflict");
    assert!(message.contains("cancelled"), "{message}");
}

#[tokio::test]
async fn the_secret_key_cannot_join_a_device_of_a_platform_the_round_does_not_want() {
    let app = spawn_app().await;
    app.register_device_with(
        app.secret_key(),
        json!({"device_id": "phone-1", "platform": "ios"}),
    )
    .await;
    let round = app.start_round_ok(json!({"platforms": ["android"]})).await;

    let reply = app
        .join_round(
            Some(app.secret_key()),
            &round.id,
            Some(json!({"device_id": "phone-1"})),
        )
        .await;

    let message = reply.assert_error(409, "conflict");
    assert!(
        message.contains("android") && message.contains("ios"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------
// Complete and cancel

#[tokio::test]
async fn complete_and_cancel_end_a_round_once() {
    let app = spawn_app().await;
    let to_complete = app.start_round_ok(json!({})).await;
    let to_cancel = app.start_round_ok(json!({})).await;
    let key = Some(app.secret_key());

    let completed = app.end_round(key, &to_complete.id, "complete").await;
    let cancelled = app.end_round(key, &to_cancel.id, "cancel").await;
    let complete_again = app.end_round(key, &to_complete.id, "complete").await;
    let cancel_completed = app.end_round(key, &to_complete.id, "cancel").await;
    let complete_cancelled = app.end_round(key, &to_cancel.id, "complete").await;

    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    assert_eq!(completed.body["status"], "completed");
    let ended = completed.body["ended_at"].as_str().unwrap();
    assert!(is_rfc3339_whole_seconds(ended), "{ended}");
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    for reply in [&complete_again, &cancel_completed, &complete_cancelled] {
        reply.assert_error(409, "conflict");
    }
    let stored = app.get_round(key, &to_complete.id).await;
    assert_eq!(stored.body["status"], "completed");
}

#[tokio::test]
async fn ending_another_orgs_round_is_404() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let theirs = app.start_round_in(&other.secret_key, json!({})).await;

    let complete = app
        .end_round(Some(app.secret_key()), &theirs.id, "complete")
        .await;
    let cancel = app
        .end_round(Some(app.secret_key()), &theirs.id, "cancel")
        .await;

    complete.assert_error(404, "not_found");
    cancel.assert_error(404, "not_found");
    let stored = app.get_round(Some(&other.secret_key), &theirs.id).await;
    assert_eq!(stored.body["status"], "active");
}

// ---------------------------------------------------------------------------------------
// The heartbeat's pending round

#[tokio::test]
async fn heartbeat_offers_nothing_when_no_round_is_active() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;

    assert_eq!(app.pending_round(&phone).await, Pending::none());
}

#[tokio::test]
async fn heartbeat_offers_the_oldest_pending_round_then_the_next_after_joining() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;
    let first = app.start_round_ok(json!({})).await;
    let second = app.start_round_ok(json!({})).await;

    let before = app.pending_round(&phone).await;
    app.join_round(Some(&phone.key), &first.id, None).await;
    let after_first = app.pending_round(&phone).await;
    app.join_round(Some(&phone.key), &second.id, None).await;
    let after_both = app.pending_round(&phone).await;

    assert_eq!(before, Pending::round(&first));
    assert_eq!(
        before.message.as_deref(),
        Some("Training round 1 is awaiting your participation.")
    );
    assert_eq!(after_first, Pending::round(&second));
    assert_eq!(after_both, Pending::none());
}

#[tokio::test]
async fn heartbeat_offers_only_rounds_for_the_devices_platform() {
    let app = spawn_app().await;
    let phone = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "phone-1", "platform": "ios"}),
        )
        .await;
    let robot = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "robot-1", "platform": "edge"}),
        )
        .await;
    app.start_round_ok(json!({"platforms": ["android"]})).await;
    let for_ios = app
        .start_round_ok(json!({"platforms": ["android", "ios"]}))
        .await;
    let for_all = app.start_round_ok(json!({})).await;

    assert_eq!(app.pending_round(&phone).await, Pending::round(&for_ios));
    assert_eq!(app.pending_round(&robot).await, Pending::round(&for_all));
}

#[tokio::test]
async fn heartbeat_offers_no_completed_or_cancelled_round() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;
    let completed = app.start_round_ok(json!({})).await;
    let cancelled = app.start_round_ok(json!({})).await;
    let active = app.start_round_ok(json!({})).await;

    app.end_round(Some(app.secret_key()), &completed.id, "complete")
        .await;
    app.end_round(Some(app.secret_key()), &cancelled.id, "cancel")
        .await;
    let offered = app.pending_round(&phone).await;
    app.end_round(Some(app.secret_key()), &active.id, "complete")
        .await;
    let none_left = app.pending_round(&phone).await;

    assert_eq!(offered, Pending::round(&active));
    assert_eq!(none_left, Pending::none());
}

#[tokio::test]
async fn an_inactive_device_is_offered_no_round() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;
    let round = app.start_round_ok(json!({})).await;

    let inactive = app
        .heartbeat(
            Some(&phone.key),
            &phone.id,
            Some(json!({"status": "inactive"})),
        )
        .await;
    let active_again = app.pending_round(&phone).await;

    assert_eq!(inactive.status, StatusCode::OK, "{}", inactive.body);
    assert_eq!(inactive.body["status"], "inactive");
    assert_eq!(Pending::from_heartbeat(&inactive.body), Pending::none());
    assert_eq!(active_again, Pending::round(&round));
}

#[tokio::test]
async fn heartbeat_never_offers_another_orgs_round() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    app.start_round_in(&other.secret_key, json!({})).await;
    let phone = app.register_device("phone-1").await;
    let theirs = app
        .register_device_with(&other.secret_key, json!({"device_id": "phone-1"}))
        .await;

    assert_eq!(app.pending_round(&phone).await, Pending::none());
    let ours = app.start_round_ok(json!({})).await;
    assert_eq!(app.pending_round(&phone).await, Pending::round(&ours));
    assert_eq!(ours.number, 1);
    assert_eq!(
        app.pending_round(&theirs).await.message.as_deref(),
        Some("Training round 1 is awaiting your participation.")
    );
}

#[tokio::test]
async fn heartbeat_with_the_secret_or_publishable_key_reports_the_same_pending_round() {
    let app = spawn_app().await;
    let phone = app.register_device("phone-1").await;
    let round = app.start_round_ok(json!({})).await;

    for key in [app.secret_key(), app.publishable_key()] {
        let reply = app.heartbeat(Some(key), "phone-1", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(Pending::from_heartbeat(&reply.body), Pending::round(&round));
    }
    app.join_round(
        Some(app.secret_key()),
        &round.id,
        Some(json!({"device_id": phone.id})),
    )
    .await;
    assert_eq!(app.pending_round(&phone).await, Pending::none());
}

#[tokio::test]
async fn listing_rounds_after_a_deadline_passed_completes_the_round_and_answers_200() {
    let app = spawn_app().await;
    let started = app
        .post(
            "/api/v1/training/rounds",
            Some(app.secret_key()),
            serde_json::json!({"deadline_seconds": 1}),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let moved = app
        .post(
            "/_devreg/clock",
            None,
            serde_json::json!({"advance_seconds": 5}),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);

    let listed = app
        .send(
            reqwest::Method::GET,
            "/api/v1/training/rounds",
            Some(app.secret_key()),
            None,
        )
        .await;

    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.body["rounds"][0]["status"], "completed",
        "{}",
        listed.body
    );
}
