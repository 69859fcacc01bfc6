//! What an attack run and a newcomer found, each pinned down: the
//! limits nobody escapes, caps on what a public key can store, bodies that must be one
//! JSON object, unambiguous credentials and device paths, look-alike identifiers, slow
//! bodies, and the readiness probe.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// What a raw exchange over one connection got back: the status, the headers (names in
/// lowercase), the body.
pub(crate) struct RawReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the contract's error body with the `X-Request-Id` header; the message.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let body: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body));
        assert_eq!(body["error"], code, "{body}");
        assert_eq!(body["status_code"], status, "{body}");
        let id = self.header("x-request-id").expect("X-Request-Id header");
        assert_eq!(body["request_id"], id);
        body["message"].as_str().unwrap().to_owned()
    }
}

/// Sends `request` as it is on a new connection (half-closing it after when `close`),
/// and reads the answer until the server closes or `wait` passes without more bytes.
pub(crate) async fn raw_exchange(
    app: &TestApp,
    request: &[u8],
    close: bool,
    wait: Duration,
) -> RawReply {
    let addr = app.url("").trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    if close {
        stream.shutdown().await.unwrap();
    }
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
        if complete(&received) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawReply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Whether `received` holds a whole response with a Content-Length body.
fn complete(received: &[u8]) -> bool {
    let text = String::from_utf8_lossy(received);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

#[tokio::test]
async fn data_after_the_json_object_is_a_400_and_changes_nothing() {
    let app = spawn_app().await;
    let device = app.register_device("sensor-1").await;
    let path = format!("/api/v1/devices/{}/heartbeat", device.id);

    for body in [
        r#"{"status":"inactive"}{"status":"active"}"#,
        r#"{"status":"inactive"}garbage"#,
        r#"{"status":"inactive"} 1"#,
    ] {
        let reply = app
            .send(Method::PUT, &path, Some(&device.key), Some(body))
            .await;
        let message = reply.assert_error(400, "bad_request");
        assert!(message.contains("nothing after it"), "{body}: {message}");
    }
    let registered = app
        .send(
            Method::POST,
            "/api/v1/devices/register",
            Some(app.secret_key()),
            Some(r#"{"device_id":"sensor-2"} {"device_id":"sensor-3"}"#),
        )
        .await;
    registered.assert_error(400, "bad_request");

    let stored = app.get_device(Some(app.secret_key()), &device.id).await;
    assert_eq!(stored.body["status"], "active");
    assert_eq!(stored.body["last_heartbeat"], json!(null));
    assert_eq!(app.device_count().await, 1);
    // Whitespace after the object is still fine.
    let spaced = app
        .send(
            Method::PUT,
            &path,
            Some(&device.key),
            Some("{\"status\":\"inactive\"}\n "),
        )
        .await;
    assert_eq!(spaced.status, StatusCode::OK, "{}", spaced.body);
}

#[tokio::test]
async fn two_authorization_or_two_x_api_key_headers_are_a_401_that_says_why() {
    let app = spawn_app().await;
    let device = app.register_device("sensor-1").await;
    let url = app.url(&format!("/api/v1/devices/{}", device.id));

    for (name, first, second) in [
        (
            "authorization",
            format!("Bearer {}", app.secret_key()),
            "Bearer edg_live_x".to_owned(),
        ),
        (
            "authorization",
            format!("Bearer {}", app.secret_key()),
            format!("Bearer {}", app.secret_key()),
        ),
        ("x-api-key", app.secret_key().to_owned(), device.key.clone()),
    ] {
        let response = app
            .client
            .get(&url)
            .header(name, first)
            .header(name, second)
            .send()
            .await
            .unwrap();
        let reply = crate::helpers::read(response).await;
        let message = reply.assert_error(401, "unauthorized");
        assert!(message.contains("more than one"), "{name}: {message}");
    }
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_with_a_json_408() {
    let app = spawn_app_with(|c| c.body_timeout = Duration::from_millis(300)).await;
    let request = format!(
        "PUT /api/v1/devices/x/heartbeat HTTP/1.1\r\nHost: devreg\r\n\
         Authorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{",
        app.secret_key()
    );

    // The client gives up after 5 s and reads nothing more: only the server's own
    // 0.3 s timeout answers in time, so no wall-clock figure needs checking.
    let reply = raw_exchange(&app, request.as_bytes(), false, Duration::from_secs(5)).await;

    let message = reply.assert_error(408, "request_timeout");
    assert!(message.contains("did not arrive within 0.3 s"), "{message}");
}

#[tokio::test]
async fn a_body_cut_short_is_a_400_in_plain_words() {
    let app = spawn_app().await;
    let request = format!(
        "POST /api/v1/devices/register HTTP/1.1\r\nHost: devreg\r\n\
         Authorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{\"device_id\"",
        app.secret_key()
    );

    let reply = raw_exchange(&app, request.as_bytes(), true, Duration::from_secs(5)).await;

    let message = reply.assert_error(400, "bad_request");
    assert!(message.contains("ended before the length"), "{message}");
    assert!(
        !message.contains("None") && !message.contains("EOF"),
        "{message}"
    );
}

#[tokio::test]
async fn messages_quote_what_was_sent_as_json_never_as_rust_debug_text() {
    let app = spawn_app().await;

    let platform = app
        .register(None, json!({"device_id": "d1", "platform": "i\u{200b}OS"}))
        .await;
    let status = app
        .heartbeat(
            Some(app.secret_key()),
            "d1",
            Some(json!({"status": "on\u{7}"})),
        )
        .await;
    let limit = app
        .list(Some(app.secret_key()), "org_id=org_demo&limit=%E2%80%8B5")
        .await;

    for (reply, sent) in [
        (&platform, "\"i\u{200b}OS\""),
        (&status, "\"on\\u0007\""),
        (&limit, "\"\u{200b}5\""),
    ] {
        let message = reply.assert_error(400, "bad_request");
        assert!(message.contains(sent), "{message} should quote {sent}");
        assert!(!message.contains("\\u{"), "{message}");
    }
}

/// The spellings of a device's UUID that every route must resolve.
fn spellings(id: &str) -> Vec<String> {
    let simple = id.replace('-', "");
    vec![
        id.to_owned(),
        id.to_uppercase(),
        simple.clone(),
        simple.to_uppercase(),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
    ]
}

#[tokio::test]
async fn every_spelling_of_a_uuid_names_the_device_on_retrieve_and_heartbeat() {
    let app = spawn_app().await;
    let device = app.register_device("sensor-1").await;

    for path in spellings(&device.id) {
        for key in [app.secret_key(), device.key.as_str()] {
            let got = app.get_device(Some(key), &path).await;
            assert_eq!(got.status, StatusCode::OK, "GET {path}: {}", got.body);
            assert_eq!(got.body["id"], device.id);
            let beat = app.heartbeat(Some(key), &path, None).await;
            assert_eq!(
                beat.status,
                StatusCode::OK,
                "heartbeat {path}: {}",
                beat.body
            );
            assert_eq!(beat.body["id"], device.id);
        }
    }
}

#[tokio::test]
async fn a_uuid_identifier_is_reachable_and_another_devices_id_cannot_be_registered() {
    let app = spawn_app().await;
    // The Python SDK registers its installation id, a UUID, as the identifier.
    let installation = "0b5e2f7c-1b1a-4c8e-9a51-7a3f0f3b6d21";
    let by_uuid = app.register_device(installation).await;
    let other = app.register_device("sensor-2").await;

    for key in [app.secret_key(), by_uuid.key.as_str()] {
        let got = app.get_device(Some(key), installation).await;
        assert_eq!(got.body["id"], by_uuid.id, "{}", got.body);
        let beat = app.heartbeat(Some(key), installation, None).await;
        assert_eq!(beat.body["id"], by_uuid.id, "{}", beat.body);
    }
    for spelling in spellings(&other.id) {
        let taken = app
            .register(Some(app.secret_key()), json!({ "device_id": spelling }))
            .await;
        let message = taken.assert_error(409, "conflict");
        assert!(message.contains("as its id"), "{message}");
    }
    assert_eq!(app.device_count().await, 2);
}

#[tokio::test]
async fn look_alike_identifiers_are_refused_and_nfc_and_nfd_are_one_identifier() {
    let app = spawn_app().await;
    for bad in [
        "laptop\u{200B}001",
        "laptop\u{200D}001",
        "\u{FEFF}laptop-001",
        "laptop-\u{202E}100",
        "laptop-\u{2067}001",
        " laptop-001",
        "laptop-001 ",
        "laptop\u{00A0}001",
    ] {
        let reply = app
            .register(Some(app.secret_key()), json!({ "device_id": bad }))
            .await;
        let message = reply.assert_error(400, "bad_request");
        assert!(
            message.starts_with("device_id must not"),
            "{bad:?}: {message}"
        );
    }

    let nfc = "caf\u{00E9}-01";
    let nfd = "cafe\u{0301}-01";
    let first = app
        .register(Some(app.secret_key()), json!({ "device_id": nfd }))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["device_id"], nfc, "stored in NFC");
    let again = app
        .register(Some(app.secret_key()), json!({ "device_id": nfc }))
        .await;
    again.assert_error(409, "conflict");
    for path in ["caf%C3%A9-01", "cafe%CC%81-01"] {
        let got = app.get_device(Some(app.secret_key()), path).await;
        assert_eq!(got.status, StatusCode::OK, "{path}: {}", got.body);
        let beat = app.heartbeat(Some(app.secret_key()), path, None).await;
        assert_eq!(beat.status, StatusCode::OK, "{path}: {}", beat.body);
    }
    assert_eq!(app.device_count().await, 1);
}

#[tokio::test]
async fn a_made_up_key_is_charged_to_its_address_on_routes_that_never_check_keys() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = 3).await;
    let made_up = |n: usize| format!("edg_live_MadeUp{n:026}");

    // Each request carries a fresh well-formed key, so no key bucket ever fills.
    let mut statuses = Vec::new();
    for (n, (method, path)) in [
        (Method::GET, "/openapi.json"),
        (Method::GET, "/no/such/route"),
        (Method::DELETE, "/api/v1/devices"),
        (Method::GET, "/openapi.json"),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = app.send(method, path, Some(&made_up(n)), None).await;
        statuses.push(reply.status.as_u16());
        if n == 3 {
            reply.assert_error(429, "rate_limited");
        }
    }
    assert_eq!(statuses, [200, 404, 405, 429]);
    // Guessing marks the address: a keyed request is now refused up front, anywhere.
    let next = app
        .send(Method::GET, "/openapi.json", Some(&made_up(9)), None)
        .await;
    next.assert_error(429, "rate_limited");
    // Health checks stay unlimited.
    let health = app
        .send(Method::GET, "/healthz", Some(&made_up(10)), None)
        .await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn a_valid_key_is_not_charged_to_its_address() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = 2).await;
    let device = app.register_device("sensor-1").await;

    for _ in 0..5 {
        let list = app.list(Some(app.secret_key()), "org_id=org_demo").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let beat = app.heartbeat(Some(&device.key), &device.id, None).await;
        assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
    }
}

#[tokio::test]
async fn a_device_exhausted_on_its_own_key_is_not_served_on_an_org_key() {
    let app = spawn_app_with(|c| c.rate_limit_device = 2).await;
    let device = app.register_device("sensor-1").await;
    let neighbour = app.register_device("sensor-2").await;

    for _ in 0..2 {
        let beat = app.heartbeat(Some(&device.key), &device.id, None).await;
        assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);
    }
    let on_secret = app
        .heartbeat(
            Some(app.secret_key()),
            &device.id,
            Some(json!({"metrics": {"n": 3}})),
        )
        .await;
    let on_publishable = app
        .heartbeat(Some(app.publishable_key()), "sensor-1", None)
        .await;

    let message = on_secret.assert_error(429, "rate_limited");
    assert!(message.contains("this device"), "{message}");
    assert_eq!(on_secret.header("retry-after"), Some("30"));
    on_publishable.assert_error(429, "rate_limited");
    let stored = app.get_device(Some(app.secret_key()), &device.id).await;
    assert_eq!(
        stored.body["metrics"],
        json!({}),
        "the refused heartbeat wrote nothing"
    );
    // Other devices, and the org key itself, are still served.
    let other = app
        .heartbeat(Some(app.secret_key()), &neighbour.id, None)
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    // The bucket refills with time, for every key.
    app.server.advance_clock(30);
    let later = app
        .heartbeat(Some(app.secret_key()), &device.id, None)
        .await;
    assert_eq!(later.status, StatusCode::OK, "{}", later.body);
}

#[tokio::test]
async fn capabilities_metadata_and_metrics_over_their_caps_are_a_400_naming_the_field() {
    let app = spawn_app_with(|c| {
        c.max_capabilities_bytes = 100;
        c.max_metadata_bytes = 100;
        c.max_metrics_bytes = 100;
    })
    .await;
    let big = "x".repeat(200);

    let capabilities = app
        .register(
            None,
            json!({"device_id": "d1", "capabilities": {"blob": big}}),
        )
        .await;
    let metadata = app
        .register(None, json!({"device_id": "d1", "metadata": {"blob": big}}))
        .await;
    let sdk_field = app
        .register(
            None,
            json!({"device_id": "d1", "device_info": {"blob": big}}),
        )
        .await;
    let device = app.register_device("d2").await;
    let metrics = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"metrics": {"blob": big}})),
        )
        .await;
    let telemetry = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"network_type": big})),
        )
        .await;
    let version = app
        .heartbeat(
            Some(&device.key),
            &device.id,
            Some(json!({"sdk_version": big})),
        )
        .await;

    for (reply, field, flag) in [
        (&capabilities, "capabilities", "--max-capabilities-bytes"),
        (&metadata, "metadata", "--max-metadata-bytes"),
        (&sdk_field, "metadata", "--max-metadata-bytes"),
        (&metrics, "metrics", "--max-metrics-bytes"),
        (&telemetry, "metrics", "--max-metrics-bytes"),
        (&version, "sdk_version", "--max-metadata-bytes"),
    ] {
        let message = reply.assert_error(400, "bad_request");
        assert!(message.starts_with(field), "{message}");
        assert!(
            message.contains("at most 100 bytes") && message.contains(flag),
            "{message}"
        );
    }
    assert_eq!(app.device_count().await, 1);
    let stored = app.get_device(Some(app.secret_key()), &device.id).await;
    assert_eq!(stored.body["last_heartbeat"], json!(null));
}

#[tokio::test]
async fn an_org_at_its_device_quota_refuses_registrations_with_403_and_metrics_say_so() {
    let app = spawn_app_with(|c| c.max_devices_per_org = 2).await;
    app.register_device("d1").await;
    app.register_device("d2").await;
    let other = app.create_org("org_other");

    let third = app
        .register(Some(app.publishable_key()), json!({"device_id": "d3"}))
        .await;
    let elsewhere = app
        .register(Some(&other.secret_key), json!({"device_id": "d3"}))
        .await;

    let message = third.assert_error(403, "forbidden");
    assert!(message.contains("quota of 2 devices"), "{message}");
    assert_eq!(
        elsewhere.status,
        StatusCode::CREATED,
        "another org has its own quota"
    );
    assert_eq!(app.device_count().await, 2);
    let metrics = app.metrics().await;
    assert!(metrics.contains("devreg_org_device_quota 2"), "{metrics}");
    assert!(
        metrics.contains("devreg_device_quota_refusals_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn publishable_key_registrations_have_their_own_lower_limit() {
    let app = spawn_app_with(|c| {
        c.rate_limit_publishable = 100;
        c.rate_limit_publishable_register = 2;
    })
    .await;
    let key = app.publishable_key().to_owned();

    let first = app
        .register_device_with(&key, json!({"device_id": "d1"}))
        .await;
    app.register_device_with(&key, json!({"device_id": "d2"}))
        .await;
    let third = app.register(Some(&key), json!({"device_id": "d3"})).await;
    let beat = app.heartbeat(Some(&key), &first.id, None).await;
    let by_secret = app
        .register(Some(app.secret_key()), json!({"device_id": "d4"}))
        .await;

    let message = third.assert_error(429, "rate_limited");
    assert!(message.contains("registrations"), "{message}");
    assert_eq!(
        beat.status,
        StatusCode::OK,
        "heartbeats use the general bucket"
    );
    assert_eq!(by_secret.status, StatusCode::CREATED);
}

#[tokio::test]
async fn readyz_writes_at_most_once_a_second_whatever_the_calls() {
    let app = spawn_app().await;
    let db = app.server.db().clone();
    let before = db.commit_count();
    let first_second = app.server.now().0;

    for _ in 0..20 {
        let ready = app.send(Method::GET, "/readyz", None, None).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
        assert_eq!(ready.body["status"], "ready");
    }
    // At most one probe in each second of the server's clock the calls spanned, however
    // long a busy machine made them take (twenty calls usually span one or two).
    let seconds = u64::try_from(app.server.now().0 - first_second + 1).unwrap();
    let probes = db.commit_count() - before;
    assert!(
        (1..=seconds).contains(&probes),
        "{probes} probes in {seconds} seconds"
    );

    app.server.advance_clock(1);
    let before = db.commit_count();
    app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        db.commit_count() - before,
        1,
        "a second later it probes again"
    );
}

#[tokio::test]
async fn a_deleted_database_file_refuses_writes_with_503_and_readyz_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devreg.db");
    let db_path = path.to_str().unwrap().to_owned();
    let app = spawn_app_with(move |c| {
        c.ephemeral = false;
        c.db = db_path;
    })
    .await;
    let device = app.register_device("sensor-1").await;
    let ready = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);

    std::fs::remove_file(&path).unwrap();
    app.server.advance_clock(1);

    let beat = app.heartbeat(Some(&device.key), &device.id, None).await;
    let register = app
        .register(Some(app.secret_key()), json!({"device_id": "sensor-2"}))
        .await;
    let readyz = app.send(Method::GET, "/readyz", None, None).await;
    let read = app.get_device(Some(app.secret_key()), &device.id).await;

    for reply in [&beat, &register] {
        let message = reply.assert_error(503, "service_unavailable");
        assert!(message.contains("deleted or replaced"), "{message}");
    }
    let message = readyz.assert_error(503, "service_unavailable");
    assert!(message.contains("deleted or replaced"), "{message}");
    assert_eq!(read.status, StatusCode::OK, "reads go on: {}", read.body);
    assert!(
        app.metrics()
            .await
            .contains("devreg_database_errors_total 2")
    );
}

#[tokio::test]
async fn body_framing_errors_get_the_contract_body_and_head_errors_are_actix_bare_answers() {
    let app = spawn_app().await;
    let corrupt_chunks = "POST /api/v1/devices/register HTTP/1.1\r\nHost: devreg\r\n\
                          Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n";
    let bad_length =
        "POST /api/v1/devices/register HTTP/1.1\r\nHost: devreg\r\nContent-Length: x\r\n\r\n";
    let huge_head = format!(
        "GET /openapi.json HTTP/1.1\r\nHost: devreg\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );

    let chunks = raw_exchange(
        &app,
        corrupt_chunks.as_bytes(),
        false,
        Duration::from_secs(3),
    )
    .await;
    let length = raw_exchange(&app, bad_length.as_bytes(), false, Duration::from_secs(3)).await;
    let head = raw_exchange(&app, huge_head.as_bytes(), false, Duration::from_secs(3)).await;

    // Shaped: the head was read, so the app answers, with the JSON body and the id.
    chunks.assert_error(400, "bad_request");
    // Not shaped: actix-http answers a head it cannot parse itself, before any service
    // runs, with an empty body and no request id (docs/api.md lists these cases). If a
    // future actix lets the server shape them, this test says so.
    for (reply, status) in [(&length, 400), (&head, 431)] {
        assert_eq!(reply.status, status, "{}", reply.body);
        assert_eq!(reply.body, "");
        assert_eq!(reply.header("x-request-id"), None);
    }
}
