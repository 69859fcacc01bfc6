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
