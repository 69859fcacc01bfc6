//! A new user's first hour (issue 29): Ctrl-C drains like SIGTERM, `HEAD` answers where
//! `GET` does, and the command line's help and refusals say what to do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::helpers::{CHILD_SECRET, ChildServer};

/// Sends the head of a registration and half of its body, and returns once the server
/// has read the head: it answers `Expect: 100-continue` with `100 Continue`.
fn half_sent_registration(url: &str, body: &str) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/devices/register HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {CHILD_SECRET}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut continued = [0u8; 25];
    stream.read_exact(&mut continued).unwrap();
    assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .unwrap();
    stream
}

#[test]
fn sigint_lets_a_half_sent_request_finish_and_answers_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("int.db");
    let mut server = ChildServer::start(db.to_str().unwrap());
    let body = r#"{"device_id": "ctrl-c-1"}"#;
    let mut stream = half_sent_registration(&server.url, body);

    server.signal("INT");
    stream
        .write_all(&body.as_bytes()[body.len() / 2..])
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();

    assert!(
        answer.starts_with("HTTP/1.1 201 Created\r\n"),
        "the request in flight at SIGINT was answered: {answer:?}"
    );
    assert!(
        answer.contains(r#""device_identifier":"ctrl-c-1""#),
        "{answer}"
    );
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM devices WHERE identifier = 'ctrl-c-1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "the drained request's device is stored");
}

fn devreg(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(args)
        .env_remove("DEVREG_DB")
        .env_remove("DEVREG_SECRET_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("run devreg")
}

fn help(args: &[&str]) -> String {
    let output = devreg(args, &[]);
    assert!(output.status.success(), "{args:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn is_heading(line: &str) -> bool {
    line.ends_with(':') && !line.starts_with(' ')
}

/// The help text's headings (lines such as `Network:`), in order.
fn headings(help: &str) -> Vec<&str> {
    help.lines().filter(|l| is_heading(l)).collect()
}

/// The options listed between `heading` and the next heading.
fn options_under<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .take_while(|l| !is_heading(l))
        .filter_map(|l| l.trim_start().trim_start_matches("-h, ").strip_prefix("--"))
        .map(|l| l.split([' ', '=']).next().unwrap())
        .collect()
}

#[test]
fn serve_help_groups_its_options_under_headings_in_the_order_an_operator_needs_them() {
    let text = help(&["serve", "--help"]);

    assert_eq!(
        headings(&text),
        [
            "Options:",
            "Network:",
            "Storage:",
            "Keys and registration:",
            "Devices:",
            "Limits:",
            "Testing:",
            "Logging:"
        ]
    );
    assert_eq!(
        options_under(&text, "Options:"),
        ["help"],
        "every serve option belongs under a heading (SERVE_HEADINGS in src/cli.rs)"
    );
    assert_eq!(
        options_under(&text, "Network:")[..2],
        ["bind", "cors-origin"]
    );
    assert_eq!(options_under(&text, "Storage:")[0], "db");
    assert_eq!(
        options_under(&text, "Logging:"),
        ["log-level", "log-format"]
    );
    assert_eq!(
        options_under(&text, "Testing:"),
        [
            "ephemeral",
            "seed",
            "exit-on-stdin-close",
            "journal-entries"
        ]
    );
}

#[test]
fn seed_help_shows_no_made_up_default_for_keys_limit() {
    let text = help(&["seed", "--help"]);

    assert!(!text.contains("18446744073709551615"), "{text}");
    assert!(text.contains("(default: every device's"), "{text}");
}

#[test]
fn device_commands_explain_org_and_default_to_org_demo_like_model_add() {
    for command in ["list", "show", "delete", "rekey"] {
        let text = help(&["device", command, "--help"]);
        let org = text
            .split("--org <ORG>")
            .nth(1)
            .unwrap_or_else(|| panic!("device {command} has --org: {text}"));
        let org = org.split("\n      --").next().unwrap();

        assert!(
            org.contains("The org whose devices these are"),
            "device {command}: {org}"
        );
        assert!(
            org.contains("[default: org_demo]"),
            "device {command}: {org}"
        );
    }
    let model = help(&["model", "add", "--help"]);
    assert!(model.contains("The org whose model it is"), "{model}");
}

#[test]
fn a_bad_secret_key_from_the_environment_is_named_by_its_variable() {
    let output = devreg(&["serve", "--ephemeral"], &[("DEVREG_SECRET_KEY", "bad")]);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(!output.status.success());
    assert!(stderr.contains("DEVREG_SECRET_KEY"), "{stderr}");
    assert!(stderr.contains("edg_live_"), "{stderr}");
}

#[tokio::test]
async fn head_answers_where_get_does_with_the_same_status_and_no_body() {
    let app = crate::helpers::spawn_app().await;
    let device = app.register_device("head-1").await;
    let key = app.secret_key().to_owned();
    for (path, key) in [
        ("/healthz", None),
        ("/openapi.json", None),
        ("/console/", None),
        ("/api/v1/devices?org_id=org_demo", Some(&key)),
        (&*format!("/api/v1/devices/{}", device.id), Some(&key)),
    ] {
        let request = |method| {
            let request = app.client.request(method, app.url(path));
            match key {
                Some(key) => request.bearer_auth(key),
                None => request,
            }
        };
        let get = request(reqwest::Method::GET).send().await.unwrap();
        let head = request(reqwest::Method::HEAD).send().await.unwrap();

        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(get.status(), reqwest::StatusCode::OK, "GET {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }
    let unknown = app
        .client
        .head(app.url("/api/v1/devices/no-such-device"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), reqwest::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_cors_preflight_without_cors_origin_names_the_flag_that_enables_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = ChildServer::start(dir.path().join("cors.db").to_str().unwrap());

    let reply = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/devices", server.url),
        )
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status(), reqwest::StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.headers().get("access-control-allow-origin").is_none());
    let body: serde_json::Value = reply.json().await.unwrap();
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("--cors-origin"), "{body}");
    assert!(message.contains("DEVREG_CORS_ORIGINS"), "{body}");
}

#[test]
fn operations_md_lists_every_command_the_binary_has() {
    let list = include_str!("../../docs/operations.md")
        .split("## Command line")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("operations.md has a command list");
    let text = help(&["--help"]);
    let commands: Vec<&str> = text
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();

    assert!(commands.len() >= 12, "{commands:?}");
    for command in commands {
        assert!(
            list.lines()
                .any(|l| l.starts_with(&format!("devreg {command} "))),
            "docs/operations.md's command list lacks `devreg {command}`"
        );
    }
}

#[test]
fn api_md_snippets_send_secret_to_the_server_it_came_from() {
    // `$SECRET` is the key of the "Try it" server on 8081; the quick start's on 8080 has
    // another org_demo key.
    let blocks = include_str!("../../docs/api.md")
        .split("```")
        .skip(1)
        .step_by(2);

    for block in blocks.filter(|b| b.contains("$SECRET")) {
        assert!(
            !block.contains(":8080"),
            "uses $SECRET on port 8080:\n{block}"
        );
    }
}
