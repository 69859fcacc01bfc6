use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;
use crate::redact;

#[tokio::test]
async fn list_returns_devices_in_registration_order_with_every_field() {
    let app = spawn_app().await;
    let first = app.register_device("b-second-alphabetically").await;
    let second = app.register_device("a-first-alphabetically").await;

    let reply = app.list(Some(app.secret_key()), "org_id=org_demo").await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    insta::assert_json_snapshot!(reply.body, {
        ".devices[0].id" => redact::is(&first.id, "[first.id]"),
        ".devices[1].id" => redact::is(&second.id, "[second.id]"),
    });
}

#[tokio::test]
async fn list_pages_with_limit_and_offset_and_counts_every_match() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.register_device(&format!("d-{i}")).await;
    }

    let page = app
        .list(Some(app.secret_key()), "org_id=org_demo&limit=2&offset=2")
        .await;
    let past_the_end = app
        .list(Some(app.secret_key()), "org_id=org_demo&offset=10")
        .await;

    let ids: Vec<_> = page.body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("d-2"), json!("d-3")]);
    assert_eq!(page.body["total"], 5);
    assert_eq!(page.body["limit"], 2);
    assert_eq!(page.body["offset"], 2);
    assert_eq!(past_the_end.body["devices"], json!([]));
    assert_eq!(past_the_end.body["total"], 5);
}

#[tokio::test]
async fn list_filters_by_platform_and_status() {
    let app = spawn_app().await;
    let ios = app
        .register_device_with(
            app.secret_key(),
            json!({"device_id": "i-1", "platform": "ios"}),
        )
        .await;
    app.register_device_with(
        app.secret_key(),
        json!({"device_id": "i-2", "platform": "ios"}),
    )
    .await;
    app.register_device_with(
        app.secret_key(),
        json!({"device_id": "a-1", "platform": "android"}),
    )
    .await;
    app.heartbeat(Some(&ios.key), &ios.id, Some(json!({"status": "inactive"})))
        .await;

    let ios_only = app
        .list(Some(app.secret_key()), "org_id=org_demo&platform=ios")
        .await;
    let ios_active = app
        .list(
            Some(app.secret_key()),
            "org_id=org_demo&platform=ios&status=active",
        )
        .await;
    let inactive = app
        .list(Some(app.secret_key()), "org_id=org_demo&status=inactive")
        .await;

    assert_eq!(ios_only.body["total"], 2);
    assert_eq!(ios_active.body["total"], 1);
    assert_eq!(ios_active.body["devices"][0]["device_id"], "i-2");
    assert_eq!(inactive.body["total"], 1);
    assert_eq!(inactive.body["devices"][0]["device_id"], "i-1");
}

#[tokio::test]
async fn list_never_shows_another_orgs_devices() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    app.register_device_with(&other.secret_key, json!({"device_id": "theirs"}))
        .await;
    app.register_device("ours").await;

    let reply = app.list(Some(app.secret_key()), "org_id=org_demo").await;

    assert_eq!(reply.body["total"], 1);
    assert_eq!(reply.body["devices"][0]["device_id"], "ours");
}

#[tokio::test]
async fn list_refuses_bad_parameters_with_a_message_naming_them() {
    let app = spawn_app().await;
    let cases = [
        ("", "org_id"),
        ("org_id=", "org_id"),
        ("org_id=org_demo&limit=0", "limit"),
        ("org_id=org_demo&limit=1001", "limit"),
        ("org_id=org_demo&limit=abc", "limit"),
        (
            "org_id=org_demo&limit=5000",
            "limit must be an integer from 1 to 1000",
        ),
        ("org_id=org_demo&offset=-1", "offset"),
        ("org_id=org_demo&offset=x", "offset"),
        ("org_id=org_demo&status=sleeping", "status"),
        ("org_id=org_demo&platform=Not%20A%20Platform", "platform"),
    ];

    for (query, expected) in cases {
        let reply = app.list(Some(app.secret_key()), query).await;
        let message = reply.assert_error(400, "bad_request");
        assert!(message.contains(expected), "{query}: {message}");
    }
}

#[tokio::test]
async fn totals_agree_with_the_devices_listed_for_every_filter() {
    let app = spawn_app().await;
    let mut devices = Vec::new();
    for i in 0..30 {
        let platform = ["ios", "android", "python"][i % 3];
        devices.push(
            app.register_device_with(
                app.secret_key(),
                json!({"device_id": format!("count-{i}"), "platform": platform}),
            )
            .await,
        );
    }
    for (i, device) in devices.iter().enumerate().take(12) {
        app.heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"status": "inactive"})),
        )
        .await;
        if i % 4 == 0 {
            app.heartbeat(
                Some(&device.key),
                &device.id,
                Some(json!({"status": "active"})),
            )
            .await;
        }
    }

    for platform in ["", "&platform=ios", "&platform=android", "&platform=python"] {
        for status in ["", "&status=active", "&status=inactive"] {
            let query = format!("org_id=org_demo&limit=1000{platform}{status}");
            let reply = app.list(Some(app.secret_key()), &query).await;
            let listed = reply.body["devices"].as_array().unwrap().len();
            assert_eq!(reply.body["total"], listed, "{query}: {}", reply.body);
        }
    }
    let inactive = app
        .list(Some(app.secret_key()), "org_id=org_demo&status=inactive")
        .await;
    assert_eq!(inactive.body["total"], 9, "{}", inactive.body);
    app.send(Method::POST, "/_devreg/reset?org_id=org_demo", None, None)
        .await;
    let after_reset = app.list(Some(app.secret_key()), "org_id=org_demo").await;
    assert_eq!(after_reset.body["total"], 0, "{}", after_reset.body);
}

#[tokio::test]
async fn after_walks_every_page_in_order_with_filters() {
    let app = spawn_app().await;
    let mut ios = Vec::new();
    for i in 0..7 {
        let platform = if i % 2 == 0 { "ios" } else { "android" };
        let device = app
            .register_device_with(
                app.secret_key(),
                json!({"device_id": format!("page-{i}"), "platform": platform}),
            )
            .await;
        if platform == "ios" {
            ios.push(device.id);
        }
    }

    let mut walked = Vec::new();
    let mut query = "org_id=org_demo&platform=ios&limit=3".to_owned();
    loop {
        let reply = app.list(Some(app.secret_key()), &query).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["total"], 4, "the total counts every match");
        let page: Vec<String> = reply.body["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        let Some(last) = page.last().cloned() else {
            break;
        };
        walked.extend(page);
        query = format!("org_id=org_demo&platform=ios&limit=3&after={last}");
    }

    assert_eq!(walked, ios);
    let skipped = app
        .list(
            Some(app.secret_key()),
            &format!("org_id=org_demo&limit=1&offset=1&after={}", ios[0]),
        )
        .await;
    assert_eq!(skipped.body["devices"][0]["device_id"], "page-2");
}

#[tokio::test]
async fn after_must_be_a_device_id_and_another_orgs_device_is_as_if_it_did_not_exist() {
    let app = spawn_app().await;
    let other = app.create_org("org_other");
    let theirs = app
        .register_device_with(&other.secret_key, json!({"device_id": "theirs"}))
        .await;

    let not_a_uuid = app
        .list(Some(app.secret_key()), "org_id=org_demo&after=page-1")
        .await;
    let other_org = app
        .list(
            Some(app.secret_key()),
            &format!("org_id=org_demo&after={}", theirs.id),
        )
        .await;

    assert!(
        not_a_uuid
            .assert_error(400, "bad_request")
            .contains("after")
    );
    assert!(other_org.assert_error(404, "not_found").contains("after"));
}
