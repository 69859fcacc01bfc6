//! The S3 store's failures (issue 26): a start against a bucket that does not answer, or
//! over plain http to another host, stops with a sentence naming `--artifacts`; a bucket
//! that refuses a write makes the upload's confirmation a 503 with the store's message,
//! keeps the upload for a retry, and publishes nothing. Each runs `devreg serve` as a
//! process with the `AWS_*` variables of its own (the in-process servers share this
//! process's environment), against a fake S3 endpoint on loopback, so it needs no S3
//! server. Everything else the S3 store does is the rest of the suite run with
//! `DEVREG_TEST_ARTIFACTS` (tests/api/helpers.rs, `.ci/s3`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// `devreg serve --ephemeral --artifacts LOCATION` with `endpoint` as AWS_ENDPOINT_URL.
fn serve(location: &str, endpoint: &str) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devreg"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") || name.starts_with("DEVREG_") {
            command.env_remove(name);
        }
    }
    command
        .args([
            "serve",
            "--ephemeral",
            "--bind",
            "127.0.0.1:0",
            "--exit-on-stdin-close",
            "--artifacts",
            location,
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDEVREGTEST")
        .env("AWS_SECRET_ACCESS_KEY", "devreg-secret-never-logged")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run devreg")
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A fake S3 endpoint: a bucket listing answers an empty bucket; every other request is
/// refused as S3 refuses a key without the right (403 AccessDenied). Answers its URL.
fn denying_s3() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let head = line.starts_with("HEAD ");
                    let (status, text) = if line.starts_with("GET ") && line.contains("list-type=2")
                    {
                        (
                            "200 OK",
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult \
                             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>models\
                             </Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000\
                             </MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>",
                        )
                    } else {
                        (
                            "403 Forbidden",
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\
                             AccessDenied</Code><Message>Access Denied</Message></Error>",
                        )
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\n\
                         content-length: {}\r\n\r\n{}",
                        text.len(),
                        if head { "" } else { text }
                    );
                    if stream.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// Waits for the process to exit (it must, within 60 s); answers its status and stderr.
fn exit_of(mut child: Child) -> (std::process::ExitStatus, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("devreg did not stop within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn an_artifacts_s3_start_fails_naming_artifacts_when_the_endpoint_is_unreachable() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());

    let (status, stderr) = exit_of(serve("s3://models/devreg", &endpoint));

    assert!(!status.success(), "devreg started: {stderr}");
    assert!(
        stderr.contains("--artifacts s3://models/devreg")
            && stderr.contains("does not answer a listing"),
        "{stderr}"
    );
    assert!(!stderr.contains("devreg-secret-never-logged"), "{stderr}");
}

#[test]
fn an_artifacts_s3_start_refuses_plain_http_to_another_host() {
    let (status, stderr) = exit_of(serve("s3://models", "http://s3.example.com"));

    assert!(!status.success(), "devreg started: {stderr}");
    assert!(
        stderr.contains("--artifacts s3://models") && stderr.contains("plain http"),
        "{stderr}"
    );
}

#[test]
fn an_artifacts_s3_start_refuses_a_location_without_a_bucket() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());

    let (status, stderr) = exit_of(serve("s3://", &endpoint));

    assert!(!status.success(), "devreg started: {stderr}");
    assert!(
        stderr.contains("--artifacts s3://") && stderr.contains("name a bucket"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_artifacts_s3_bucket_that_denies_writes_makes_the_confirmation_503_and_publishes_nothing()
 {
    let mut server = serve("s3://models/devreg", &denying_s3());
    let ready: Value = {
        let mut line = String::new();
        BufReader::new(server.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("no ready line: {line:?}"))
    };
    let (url, key) = (
        ready["url"].as_str().unwrap().to_owned(),
        ready["secret_key"].as_str().unwrap().to_owned(),
    );
    let client = reqwest::Client::new();
    let bytes = vec![7u8; 5000];
    let sha256: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ticket: Value = client
        .post(format!("{url}/api/v1/models/kbd/versions/upload-url"))
        .bearer_auth(&key)
        .json(&json!({"version": "1.0.0", "filename": "model.onnx"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let upload_url = ticket["upload_url"].as_str().unwrap().to_owned();
    let put = client.put(&upload_url).body(bytes).send().await.unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let confirm = json!({"version": "1.0.0", "storage_key": ticket["storage_key"],
        "file_size": 5000, "sha256": sha256});

    let reply = client
        .post(format!("{url}/api/v1/models/kbd/versions/confirm-upload"))
        .bearer_auth(&key)
        .json(&confirm)
        .send()
        .await
        .unwrap();

    assert_eq!(reply.status(), 503);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("the artifact store s3://models/devreg failed") && message.contains("403"),
        "{message}"
    );
    let progress: Value = client
        .get(&upload_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        progress["received_bytes"], 5000,
        "the upload is kept: {progress}"
    );
    let versions = client
        .get(format!("{url}/api/v1/models/kbd/versions/1.0.0"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.status(), 404, "a version was published");

    drop(server.stdin.take());
    let (_, stderr) = exit_of(server);
    assert!(!stderr.contains("devreg-secret-never-logged"), "{stderr}");
}
