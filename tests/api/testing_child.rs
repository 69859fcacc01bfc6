//! `devreg serve --ephemeral` as a child process, the way a test suite in any language
//! starts it: read the ready line, drive it over HTTP, stop it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// A running `devreg serve --ephemeral` child and what its ready line said.
struct Ephemeral {
    child: Child,
    stdout: BufReader<ChildStdout>,
    ready: Value,
}

impl Ephemeral {
    fn start(extra: &[&str]) -> Ephemeral {
        let mut child = Command::new(env!("CARGO_BIN_EXE_devreg"))
            .args(["serve", "--ephemeral"])
            .args(extra)
            .env_remove("DEVREG_BIND")
            .env_remove("DEVREG_DB")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn devreg serve --ephemeral");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the ready line");
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the ready line is not JSON ({e}): {line:?}"));
        Ephemeral {
            child,
            stdout,
            ready,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.ready["url"].as_str().unwrap())
    }

    /// Waits up to `limit` for the child to exit.
    fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "devreg did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the child printed on stdout after the ready line.
    fn rest_of_stdout(&mut self) -> String {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        rest
    }
}

impl Drop for Ephemeral {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_ready_line_gives_everything_needed_to_register_and_heartbeat() {
    let mut server = Ephemeral::start(&[]);
    let ready = server.ready.clone();
    assert_eq!(ready["org_id"], "org_demo");
    assert!(
        ready["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(
        ready["secret_key"]
            .as_str()
            .unwrap()
            .starts_with("edg_live_")
    );
    let publishable = ready["publishable_key"].as_str().unwrap();
    assert!(publishable.starts_with("oct_pub_live_"));
    let client = reqwest::Client::new();

    let registered: Value = client
        .post(server.url("/api/v1/devices/register"))
        .bearer_auth(publishable)
        .json(&json!({ "device_identifier": "ci-runner-1", "platform": "linux" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let beat = client
        .put(server.url(&format!(
            "/api/v1/devices/{}/heartbeat",
            registered["id"].as_str().unwrap()
        )))
        .bearer_auth(registered["api_key"].as_str().unwrap())
        .json(&json!({ "status": "active", "metrics": { "battery_pct": 55 } }))
        .send()
        .await
        .unwrap();

    assert_eq!(beat.status(), StatusCode::OK);
    server.child.kill().unwrap();
    server.wait_for_exit(Duration::from_secs(5));
    assert_eq!(server.rest_of_stdout(), "", "stdout is exactly one line");
}

#[test]
fn closing_stdin_stops_the_server_cleanly() {
    let mut server = Ephemeral::start(&["--exit-on-stdin-close"]);

    drop(server.child.stdin.take());

    let status = server.wait_for_exit(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert_eq!(server.rest_of_stdout(), "");
}

#[tokio::test]
async fn without_the_flag_stdin_closing_changes_nothing() {
    let mut server = Ephemeral::start(&[]);
    // A server with the flag, whose stdin closes at the same moment: once it has exited,
    // the closing has been seen and acted on, which is the moment to look at the other.
    let mut flagged = Ephemeral::start(&["--exit-on-stdin-close"]);

    drop(server.child.stdin.take());
    drop(flagged.child.stdin.take());
    let status = flagged.wait_for_exit(Duration::from_secs(5));

    assert!(status.success(), "{status:?}");
    assert!(server.child.try_wait().unwrap().is_none(), "still running");
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "and serving");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = Ephemeral::start(&[]);

    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());

    let status = server.wait_for_exit(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
}

#[test]
fn bind_is_kept_when_given() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let bind = format!("127.0.0.1:{port}");

    let server = Ephemeral::start(&["--bind", &bind]);

    assert_eq!(server.ready["url"], format!("http://{bind}"));
}

const SEED: &str = r#"{
  "orgs": [
    {
      "id": "org_acme",
      "secret_key": "edg_live_AcmeSecretKey0123456789abcdef",
      "devices": [
        {"device_id": "laptop-001", "platform": "linux",
         "api_key": "edg_dev_Laptop001DeviceKey0123456789"}
      ]
    },
    {"id": "org_demo", "devices": [{"device_id": "demo-phone", "platform": "ios"}]}
  ]
}"#;

#[tokio::test]
async fn seeded_devices_heartbeat_with_their_known_keys() {
    let mut seed = tempfile::NamedTempFile::new().unwrap();
    seed.write_all(SEED.as_bytes()).unwrap();
    let server = Ephemeral::start(&["--seed", seed.path().to_str().unwrap()]);
    let client = reqwest::Client::new();

    let beat = client
        .put(server.url("/api/v1/devices/laptop-001/heartbeat"))
        .bearer_auth("edg_dev_Laptop001DeviceKey0123456789")
        .send()
        .await
        .unwrap();
    let demo: Value = client
        .get(server.url("/api/v1/devices?org_id=org_demo"))
        .bearer_auth(server.ready["secret_key"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(beat.status(), StatusCode::OK);
    assert_eq!(demo["total"], 1);
    assert_eq!(demo["devices"][0]["device_id"], "demo-phone");
}

#[test]
fn a_bad_seed_file_is_refused_with_its_name_line_and_field() {
    let mut seed = tempfile::NamedTempFile::new().unwrap();
    seed.write_all(
        b"{\"orgs\": [\n  {\"id\": \"org_acme\",\n   \"devices\": [{\"device_id\": \"a\", \"platform\": \"Windows 11\"}]}\n]}",
    )
    .unwrap();
    let path = seed.path().to_str().unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(["serve", "--ephemeral", "--seed", path])
        .output()
        .unwrap();

    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no ready line");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(path), "{stderr}");
    assert!(stderr.contains("line 3 column"), "{stderr}");
    assert!(stderr.contains("orgs[0].devices[0].platform"), "{stderr}");
}

/// Sends `n` anonymous registrations and returns their statuses.
async fn anonymous_registrations(server: &Ephemeral, n: usize) -> Vec<u16> {
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..n {
        let reply = client
            .post(server.url("/api/v1/devices/register"))
            .json(&json!({ "device_id": format!("anon-{i}") }))
            .send()
            .await
            .unwrap();
        statuses.push(reply.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn ephemeral_servers_have_no_rate_limits_unless_asked() {
    let unlimited = Ephemeral::start(&[]);
    let limited = Ephemeral::start(&["--rate-limit-anonymous", "2"]);

    // The default anonymous quota is 60 a minute; an ephemeral server takes 70 at once.
    let all = anonymous_registrations(&unlimited, 70).await;
    let capped = anonymous_registrations(&limited, 3).await;

    assert!(all.iter().all(|&s| s == 201), "{all:?}");
    assert_eq!(capped, [201, 201, 429]);
}
