//! Running a fleet: deleting, re-keying and changing devices, labels and the
//! label filter, connectivity from the test clock.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

impl TestApp {
    pub async fn delete_device(&self, key: Option<&str>, reference: &str) -> crate::helpers::Reply {
        self.send(
            Method::DELETE,
            &format!("/api/v1/devices/{reference}"),
            key,
            None,
        )
        .await
    }

    pub async fn rekey(&self, key: Option<&str>, reference: &str) -> crate::helpers::Reply {
        self.send(
            Method::POST,
            &format!("/api/v1/devices/{reference}/keys"),
            key,
            None,
        )
        .await
    }

    pub async fn patch_device(
        &self,
        key: Option<&str>,
        reference: &str,
        body: Value,
    ) -> crate::helpers::Reply {
        self.send(
            Method::PATCH,
            &format!("/api/v1/devices/{reference}"),
            key,
            Some(&body.to_string()),
        )
        .await
    }

    /// Every event of the demo org, oldest first.
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let reply = self
            .send(
                Method::GET,
                &format!("/api/v1/events?limit=1000&{query}"),
                Some(self.secret_key()),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["events"].as_array().unwrap().clone()
    }

    /// Moves the clock forward as a test client would, which also sweeps.
    pub async fn advance(&self, secs: u64) {
        let reply = self
            .send(
                Method::POST,
                "/_devreg/clock",
                None,
                Some(&json!({"advance_seconds": secs}).to_string()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn identifiers(reply: &crate::helpers::Reply) -> Vec<&str> {
    reply.body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn deleting_a_device_frees_its_identifier_and_its_old_key_is_401() {
    let app = spawn_app().await;
    let device = app.register_device("doomed").await;
    let round = app.start_round_ok(json!({})).await;
    let joined = app.join_round(Some(&device.key), &round.id, None).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    app.patch_device(
        Some(app.secret_key()),
        "doomed",
        json!({"labels": {"env": "prod"}}),
    )
    .await;

    let deleted = app.delete_device(Some(app.secret_key()), "doomed").await;

    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        deleted.body,
        json!({"deleted": true, "id": device.id, "device_id": "doomed"})
    );
    app.heartbeat(Some(&device.key), &device.id, None)
        .await
        .assert_error(401, "unauthorized");
    app.get_device(Some(app.secret_key()), "doomed")
        .await
        .assert_error(404, "not_found");
    let round_now = app.get_round(Some(app.secret_key()), &round.id).await;
    assert_eq!(round_now.body["participant_count"], 0, "{}", round_now.body);
    assert_eq!(
        app.list(Some(app.secret_key()), "org_id=org_demo&label=env")
            .await
            .body["total"],
        0
    );
    let again = app.register_device("doomed").await;
    assert_ne!(again.id, device.id);
    let events = app.events("").await;
    assert!(types(&events).contains(&"device.deleted"), "{events:?}");
    // Its history stays.
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "device.registered" && e["device_id"] == device.id.as_str())
    );
}

#[tokio::test]
async fn deleting_keeps_the_counts_the_total_and_metrics_right() {
    let app = spawn_app().await;
    for name in ["a", "b", "c"] {
        app.register_device(name).await;
    }
    app.delete_device(Some(app.secret_key()), "b").await;

    assert_eq!(app.device_count().await, 2);
    let active = app
        .list(Some(app.secret_key()), "org_id=org_demo&status=active")
        .await;
    assert_eq!(active.body["total"], 2);
    assert_eq!(identifiers(&active), ["a", "c"]);
    assert!(app.metrics().await.contains("devreg_devices 2"));
}

#[tokio::test]
async fn deleting_rekeying_or_changing_an_unknown_device_is_the_contracts_404() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());
    for reply in [
        app.delete_device(key, "nobody").await,
        app.rekey(key, "nobody").await,
        app.patch_device(key, "nobody", json!({"status": "inactive"}))
            .await,
    ] {
        let message = reply.assert_error(404, "not_found");
        assert!(message.contains("\"nobody\""), "{message}");
    }
}

#[tokio::test]
async fn rekeying_shows_a_new_key_once_and_revokes_the_old_ones() {
    let app = spawn_app().await;
    let device = app.register_device("leaky").await;

    let issued = app.rekey(Some(app.secret_key()), &device.id).await;

    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let new_key = issued.body["api_key"].as_str().unwrap();
    assert!(new_key.starts_with("edg_dev_"));
    assert_eq!(issued.body["access_token"], new_key);
    assert_ne!(new_key, device.key);
    app.heartbeat(Some(&device.key), &device.id, None)
        .await
        .assert_error(401, "unauthorized");
    let beat = app.heartbeat(Some(new_key), &device.id, None).await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
    let retrieved = app.get_device(Some(new_key), "leaky").await;
    assert!(retrieved.body.get("api_key").is_none(), "never shown again");
    let events = app.events("type=device.key_issued").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["revoked_keys"], 1);
}

#[tokio::test]
async fn patch_replaces_or_merges_labels_and_merges_metadata_with_null_deleting() {
    let app = spawn_app().await;
    app.register(
        Some(app.secret_key()),
        json!({"device_id": "p1", "labels": {"env": "dev", "team": "ml"},
               "metadata": {"owner": "ann", "room": "4"}}),
    )
    .await;
    let key = Some(app.secret_key());

    let merged = app
        .patch_device(
            key,
            "p1",
            json!({"labels": {"env": "prod", "team": null, "ring": "canary"}, "labels_merge": true,
                   "metadata": {"room": null, "floor": 2}, "id": "hijack", "org_id": "org_x"}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
    assert_eq!(
        merged.body["labels"],
        json!({"env": "prod", "ring": "canary"})
    );
    assert_eq!(merged.body["metadata"], json!({"owner": "ann", "floor": 2}));
    assert_eq!(
        merged.body["org_id"], "org_demo",
        "server-owned fields stay"
    );
    assert_ne!(merged.body["id"], "hijack");

    let replaced = app
        .patch_device(key, "p1", json!({"labels": {"site": "berlin"}}))
        .await;
    assert_eq!(replaced.body["labels"], json!({"site": "berlin"}));
    let retrieved = app.get_device(key, "p1").await;
    assert_eq!(retrieved.body["labels"], json!({"site": "berlin"}));

    let updates = app.events("type=device.updated").await;
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0]["data"]["changed"], json!(["labels", "metadata"]));
    // A change to nothing writes nothing.
    app.patch_device(
        key,
        "p1",
        json!({"labels": {"site": "berlin"}, "metadata": {"owner": "ann"}}),
    )
    .await;
    assert_eq!(app.events("type=device.updated").await.len(), 2);
}

#[tokio::test]
async fn patching_the_status_writes_status_changed() {
    let app = spawn_app().await;
    app.register_device("s1").await;
    let reply = app
        .patch_device(Some(app.secret_key()), "s1", json!({"status": "inactive"}))
        .await;
    assert_eq!(reply.body["status"], "inactive");
    let inactive = app
        .list(Some(app.secret_key()), "org_id=org_demo&status=inactive")
        .await;
    assert_eq!(inactive.body["total"], 1);
    let events = app.events("type=device.status_changed").await;
    assert_eq!(events[0]["data"]["from"], "active");
    assert_eq!(events[0]["data"]["to"], "inactive");
    let bad = app
        .patch_device(Some(app.secret_key()), "s1", json!({"status": "asleep"}))
        .await;
    bad.assert_error(400, "bad_request");
}

#[tokio::test]
async fn a_bad_label_is_a_400_naming_the_label_and_the_rule() {
    let app = spawn_app().await;
    app.register_device("l1").await;
    let too_many: serde_json::Map<String, Value> =
        (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases = [
        (json!({"Env": "x"}), "\"Env\""),
        (json!({"-x": "x"}), "starting with a letter or digit"),
        (json!({"k": "v".repeat(64)}), "0 to 63"),
        (json!({"k": "a\u{7}b"}), "control"),
        (json!({"k": 5}), "string value"),
        (Value::Object(too_many), "at most 32"),
    ];
    for (labels, says) in cases {
        let at_registration = app
            .register(
                Some(app.secret_key()),
                json!({"device_id": "l2", "labels": labels}),
            )
            .await;
        let message = at_registration.assert_error(400, "bad_request");
        assert!(message.contains(says), "{message}");
        let by_patch = app
            .patch_device(Some(app.secret_key()), "l1", json!({"labels": labels}))
            .await;
        let message = by_patch.assert_error(400, "bad_request");
        assert!(message.contains(says), "{message}");
    }
    let filter = app
        .list(Some(app.secret_key()), "org_id=org_demo&label=Bad:x")
        .await;
    assert!(filter.assert_error(400, "bad_request").contains("\"Bad\""));
    // Merging past 32 is refused too.
    let many: serde_json::Map<String, Value> =
        (0..32).map(|i| (format!("k{i}"), json!("v"))).collect();
    let ok = app
        .patch_device(Some(app.secret_key()), "l1", json!({"labels": many}))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let over = app
        .patch_device(
            Some(app.secret_key()),
            "l1",
            json!({"labels": {"one-more": ""}, "labels_merge": true}),
        )
        .await;
    assert!(over.assert_error(400, "bad_request").contains("at most 32"));
}

#[tokio::test]
async fn label_filters_combine_with_each_other_and_the_other_filters_and_total_counts_all() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());
    for (name, platform, labels) in [
        ("d0", "ios", json!({"env": "prod", "ring": "canary"})),
        ("d1", "android", json!({"env": "prod"})),
        ("d2", "ios", json!({"env": "dev", "ring": "canary"})),
        ("d3", "ios", json!({"env": "prod", "ring": "stable"})),
        ("d4", "ios", json!({})),
    ] {
        app.register(
            key,
            json!({"device_id": name, "platform": platform, "labels": labels}),
        )
        .await;
    }

    let prod = app.list(key, "org_id=org_demo&label=env:prod").await;
    assert_eq!(identifiers(&prod), ["d0", "d1", "d3"]);
    assert_eq!(prod.body["total"], 3);
    assert_eq!(
        prod.body["devices"][0]["labels"],
        json!({"env": "prod", "ring": "canary"})
    );
    let has_ring = app.list(key, "org_id=org_demo&label=ring").await;
    assert_eq!(identifiers(&has_ring), ["d0", "d2", "d3"]);
    let both = app
        .list(key, "org_id=org_demo&label=env:prod&label=ring")
        .await;
    assert_eq!(identifiers(&both), ["d0", "d3"]);
    assert_eq!(both.body["total"], 2);
    let with_platform = app
        .list(key, "org_id=org_demo&label=env:prod&platform=android")
        .await;
    assert_eq!(identifiers(&with_platform), ["d1"]);
    assert_eq!(with_platform.body["total"], 1);
    let empty_value = app.list(key, "org_id=org_demo&label=env:").await;
    assert_eq!(empty_value.body["total"], 0);

    let first = app
        .list(key, "org_id=org_demo&label=env:prod&limit=2")
        .await;
    assert_eq!(identifiers(&first), ["d0", "d1"]);
    let last_id = first.body["devices"][1]["id"].as_str().unwrap();
    let next = app
        .list(
            key,
            &format!("org_id=org_demo&label=env:prod&limit=2&after={last_id}"),
        )
        .await;
    assert_eq!(identifiers(&next), ["d3"]);
    assert_eq!(next.body["total"], 3, "the total counts every match");
}

#[tokio::test]
async fn label_totals_follow_registrations_patches_and_deletes_in_any_filter_order() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());
    for (name, labels) in [
        ("c0", json!({"env": "prod", "ring": "canary"})),
        ("c1", json!({"env": "prod", "ring": "stable"})),
        ("c2", json!({"env": "prod"})),
        ("c3", json!({"env": "dev", "ring": "canary"})),
    ] {
        app.register(key, json!({"device_id": name, "labels": labels}))
            .await;
    }
    let total = |query: &'static str| {
        let app = &app;
        async move {
            let reply = app.list(key, &format!("org_id=org_demo&{query}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let found: Vec<String> = identifiers(&reply).into_iter().map(str::to_owned).collect();
            (reply.body["total"].as_u64().unwrap(), found)
        }
    };
    assert_eq!(total("label=env:prod").await.0, 3);
    assert_eq!(total("label=ring").await.0, 3);
    // The rarest filter drives the walk; the answer is the same in either order.
    let canary_prod = (1, vec!["c0".to_owned()]);
    assert_eq!(total("label=env:prod&label=ring:canary").await, canary_prod);
    assert_eq!(total("label=ring:canary&label=env:prod").await, canary_prod);
    assert_eq!(total("label=ring:none&label=env:prod").await, (0, vec![]));

    let moved = app
        .patch_device(
            key,
            "c2",
            json!({"labels": {"env": "dev", "ring": "canary"}}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(total("label=env:prod").await.0, 2);
    assert_eq!(total("label=env:dev").await.0, 2);
    assert_eq!(total("label=ring").await.0, 4);
    let deleted = app.delete_device(key, "c3").await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(total("label=env:dev").await, (1, vec!["c2".to_owned()]));
    assert_eq!(total("label=ring:canary").await.0, 2);
    assert_eq!(total("label=ring").await.0, 3);
}

#[test]
fn label_filters_walk_the_label_indexes_and_never_scan_devices() {
    use devreg::domain::{ConnectivityRule, LabelFilter, Platform, Timestamp};
    use devreg::store::{Db, MEMORY, devices};
    let db = Db::open(MEMORY, 1).unwrap();
    let platform = Platform::try_from("ios".to_owned()).unwrap();
    let plans = |labels: &[LabelFilter], platform: Option<&Platform>| {
        db.read_sync(|conn| {
            devices::list_plans(
                conn,
                &devices::ListQuery {
                    org_id: "org_demo",
                    platform,
                    status: None,
                    labels,
                    connectivity: None,
                    last_seen_before: None,
                    last_seen_after: None,
                    prefix: None,
                    rule: ConnectivityRule::new(60, 2, 10),
                    now: Timestamp(0),
                    limit: 100,
                    offset: 0,
                    after: None,
                },
            )
        })
        .unwrap()
    };
    let equal = LabelFilter::parse("env:prod").unwrap();
    let present = LabelFilter::parse("ring").unwrap();
    for (labels, platform, index) in [
        (
            vec![equal.clone()],
            None,
            "device_labels_by_value (org_id=? AND key=? AND value=?",
        ),
        (
            vec![present.clone()],
            None,
            "device_labels_by_key (org_id=? AND key=?",
        ),
        (
            vec![equal.clone(), present.clone()],
            Some(&platform),
            "device_labels_by_value (org_id=? AND key=? AND value=?",
        ),
    ] {
        for plan in plans(&labels, platform) {
            eprintln!("{labels:?}:\n{plan}\n");
            assert!(plan.contains(index), "{plan}");
            assert!(!plan.contains("SCAN d"), "no scan of devices: {plan}");
            assert!(!plan.contains("SCAN devices"), "{plan}");
            assert!(!plan.contains("SCAN l"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
        }
    }
}

#[tokio::test]
async fn a_device_goes_online_stale_offline_as_the_clock_advances_with_one_event_each() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());
    let device = app.register_device("quiet").await;
    let connectivity = |reply: crate::helpers::Reply| reply.body["connectivity"].clone();
    assert_eq!(connectivity(app.get_device(key, "quiet").await), "offline");

    app.heartbeat(Some(&device.key), &device.id, None).await;
    assert_eq!(connectivity(app.get_device(key, "quiet").await), "online");
    // Heartbeat interval 60 s: stale after 120 s, offline after 600 s (the wall clock
    // moves a little too, hence the margins).
    app.advance(60).await;
    assert_eq!(connectivity(app.get_device(key, "quiet").await), "online");
    app.advance(100).await;
    assert_eq!(connectivity(app.get_device(key, "quiet").await), "stale");
    app.advance(300).await; // still stale: no new event
    app.advance(300).await;
    assert_eq!(connectivity(app.get_device(key, "quiet").await), "offline");
    app.advance(3600).await;
    app.server.sweep().await;

    let changes = app.events("type=device.connectivity_changed").await;
    let steps: Vec<(&str, &str)> = changes
        .iter()
        .map(|e| {
            (
                e["data"]["from"].as_str().unwrap(),
                e["data"]["to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("offline", "online"),
            ("online", "stale"),
            ("stale", "offline")
        ]
    );

    // Back with one heartbeat, announced by it.
    app.heartbeat(Some(&device.key), &device.id, None).await;
    let changes = app.events("type=device.connectivity_changed").await;
    assert_eq!(changes.len(), 4);
    assert_eq!(changes[3]["data"]["to"], "online");
    let list = app.list(key, "org_id=org_demo").await;
    assert_eq!(list.body["devices"][0]["connectivity"], "online");
}

#[tokio::test]
async fn a_heartbeat_that_changes_nothing_writes_no_event() {
    let app = spawn_app().await;
    let device = app.register_device("steady").await;
    app.heartbeat(Some(&device.key), &device.id, None).await;
    let before = app.events("").await.len();
    for _ in 0..3 {
        app.heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"metrics": {"cpu": 1}})),
        )
        .await;
    }
    assert_eq!(app.events("").await.len(), before);
    app.heartbeat(
        Some(&device.key),
        &device.id,
        Some(json!({"status": "inactive"})),
    )
    .await;
    let events = app.events("").await;
    assert_eq!(types(&events[before..]), ["device.status_changed"]);
}

#[tokio::test]
async fn list_filters_by_connectivity_last_seen_and_identifier_prefix() {
    let app = spawn_app().await;
    let key = Some(app.secret_key());
    let old = app.register_device("cam-old").await;
    let new = app.register_device("cam-new").await;
    app.register_device("lamp-never").await;
    app.heartbeat(Some(&old.key), &old.id, None).await;
    app.advance(200).await; // old is stale now
    let cut = app.server.now();
    app.advance(5).await;
    app.heartbeat(Some(&new.key), &new.id, None).await;

    async fn names(app: &TestApp, q: &str) -> Vec<String> {
        let reply = app
            .list(Some(app.secret_key()), &format!("org_id=org_demo&{q}"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        identifiers(&reply).iter().map(|s| s.to_string()).collect()
    }
    assert_eq!(names(&app, "connectivity=online").await, ["cam-new"]);
    assert_eq!(names(&app, "connectivity=stale").await, ["cam-old"]);
    assert_eq!(names(&app, "connectivity=offline").await, ["lamp-never"]);
    let before = format!("org_id=org_demo&last_seen_before={}", cut.to_rfc3339());
    assert_eq!(identifiers(&app.list(key, &before).await), ["cam-old"]);
    let after = format!("org_id=org_demo&last_seen_after={}", cut.to_rfc3339());
    assert_eq!(identifiers(&app.list(key, &after).await), ["cam-new"]);
    assert_eq!(names(&app, "q=cam-").await, ["cam-old", "cam-new"]);
    assert_eq!(
        app.list(key, "org_id=org_demo&q=cam-").await.body["total"],
        2
    );
    let combined = app
        .list(key, "org_id=org_demo&q=cam-&connectivity=stale")
        .await;
    assert_eq!(identifiers(&combined), ["cam-old"]);
    assert_eq!(combined.body["total"], 1);

    app.list(key, "org_id=org_demo&connectivity=gone")
        .await
        .assert_error(400, "bad_request");
    let bad_time = app
        .list(key, "org_id=org_demo&last_seen_before=yesterday")
        .await;
    assert!(
        bad_time
            .assert_error(400, "bad_request")
            .contains("last_seen_before")
    );
}

#[tokio::test]
async fn the_new_routes_refuse_every_caller_but_the_orgs_secret_key() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let target = app.register_device("target").await;
    let callers: Vec<(&str, Option<&str>, u16)> = vec![
        ("no key", None, 401),
        ("publishable key", Some(app.publishable_key()), 403),
        ("the device's own key", Some(&target.key), 403),
        ("another org's secret key", Some(&other.secret_key), 404),
    ];
    for (who, key, want) in callers {
        let replies = [
            ("delete", app.delete_device(key, "target").await),
            ("rekey", app.rekey(key, "target").await),
            (
                "patch",
                app.patch_device(key, "target", json!({"status": "inactive"}))
                    .await,
            ),
        ];
        for (what, reply) in replies {
            assert_eq!(
                reply.status.as_u16(),
                want,
                "{who} on {what}: {}",
                reply.body
            );
            reply.assert_error(want, reply.body["error"].as_str().unwrap());
        }
        let events_want = if want == 404 { 200 } else { want };
        let events = app.send(Method::GET, "/api/v1/events", key, None).await;
        assert_eq!(events.status.as_u16(), events_want, "{who} on events");
        let stream = app
            .send(Method::GET, "/api/v1/events?org_id=org_demo", key, None)
            .await;
        assert_eq!(
            stream.status.as_u16(),
            if want == 404 { 403 } else { want },
            "{who} naming org_demo"
        );
    }
    // Another org's own events hold nothing of this org's.
    let theirs = app
        .send(Method::GET, "/api/v1/events", Some(&other.secret_key), None)
        .await;
    assert_eq!(theirs.body["events"], json!([]));
    // Nothing changed the target.
    let now = app.get_device(Some(&target.key), "target").await;
    assert_eq!(now.body["status"], "active");
}
