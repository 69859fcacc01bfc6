//! `devreg serve` starting, and failing to start, as an operator runs it: what it prints
//! about its database (never a password, the server's own reason when a connection is
//! refused) and what a start that cannot listen leaves behind (nothing).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

use crate::helpers::{TestDatabase, test_postgres};

const PASSWORD: &str = "s3cr3t-pw";

fn devreg_serve(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devreg"));
    command
        .arg("serve")
        .args(args)
        .env_remove("DEVREG_DB")
        .env_remove("DEVREG_BIND")
        .env_remove("DEVREG_SECRET_KEY")
        .env_remove("DEVREG_PUBLISHABLE_KEY")
        .env_remove("DEVREG_LOG_LEVEL")
        .env_remove("DEVREG_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `devreg serve` with `args` until it logs that it listens (then stops it) or exits
/// on its own; returns whether it listened, and all it printed on stdout and stderr.
fn serve_and_stop(args: &[&str]) -> (bool, String, String) {
    let mut child = devreg_serve(args).spawn().expect("spawn devreg serve");
    let mut out = child.stdout.take().unwrap();
    let reading_stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let mut err = String::new();
    let mut listened = false;
    let mut lines = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while lines.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
        err.push_str(&line);
        if line.contains("listening on") {
            listened = true;
            break;
        }
        line.clear();
    }
    if listened {
        child.kill().unwrap();
    }
    child.wait().unwrap();
    let _ = lines.read_to_string(&mut err);
    (listened, reading_stdout.join().unwrap(), err)
}

/// `url` (postgres://USER@HOST...) with `password` given in its user info.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').expect("a URL with a user");
    format!("{scheme}://{user}:{password}@{host}")
}

/// Starts `devreg serve` on `url`, a PostgreSQL URL holding [`PASSWORD`], and checks that
/// nothing it prints, whether it starts or not, holds the password. Returns whether it
/// started, and what it printed.
fn assert_password_never_printed(url: &str) -> (bool, String, String) {
    assert!(url.contains(PASSWORD), "{url}");
    let (listened, stdout, stderr) = serve_and_stop(&["--db", url, "--bind", "127.0.0.1:0"]);
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "devreg serve --db {url} printed the password:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (listened, stdout, stderr)
}

#[test]
fn serve_never_prints_the_database_password() {
    match test_postgres() {
        // A trust-auth server accepts and ignores the password: the server starts, prints
        // the first-start banner and its listening line.
        Some(_) => {
            let in_user_info = TestDatabase::create().unwrap();
            let (listened, stdout, stderr) =
                assert_password_never_printed(&with_password(&in_user_info.url, PASSWORD));
            assert!(listened, "{stderr}");
            assert!(stdout.contains("org_demo"), "no banner:\n{stdout}");
            assert!(stdout.contains("--db postgres://"), "{stdout}");
            assert!(stderr.contains("(database postgres://"), "{stderr}");

            let in_query = TestDatabase::create().unwrap();
            let (listened, stdout, stderr) =
                assert_password_never_printed(&format!("{}?password={PASSWORD}", in_query.url));
            assert!(listened, "{stderr}");
            assert!(stdout.contains("org_demo"), "no banner:\n{stdout}");
        }
        // No PostgreSQL: the same check on the error of a connection that fails.
        None => {
            for url in [
                format!("postgres://u:{PASSWORD}@127.0.0.1:1/x"),
                format!("postgres://u@127.0.0.1:1/x?password={PASSWORD}"),
            ] {
                let (listened, _, stderr) = assert_password_never_printed(&url);
                assert!(!listened, "{stderr}");
                assert!(stderr.contains("cannot connect"), "{stderr}");
            }
        }
    }
}

#[test]
fn serve_on_a_busy_port_names_bind_and_creates_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let db = db.to_str().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = busy.local_addr().unwrap().to_string();

    let refused = devreg_serve(&["--db", db, "--bind", &bind])
        .output()
        .expect("run devreg serve");
    let created = std::path::Path::new(db).exists();
    drop(busy);
    let (listened, banner, _) = serve_and_stop(&["--db", db, "--bind", "127.0.0.1:0"]);

    assert!(!refused.status.success());
    let message = text(&refused.stderr);
    assert!(message.contains(&bind), "{message}");
    assert!(
        message.contains("--bind") && message.contains("DEVREG_BIND"),
        "{message}"
    );
    // The start that could not listen left no database, so the next one is the first.
    assert!(!created, "{db} was created");
    assert!(
        text(&refused.stdout).is_empty(),
        "{}",
        text(&refused.stdout)
    );
    assert!(listened);
    assert!(banner.contains("First start"), "{banner}");
    assert!(banner.contains("edg_live_"), "{banner}");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A stand-in for a PostgreSQL server that refuses every connection with `message`
/// (SQLSTATE `code`), as a real one does for a database or role it does not have.
/// Returns its port; it serves until the test process ends.
fn refusing_postgres(code: &'static str, message: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let message = message.clone();
            std::thread::spawn(move || {
                // The startup message (after an SSLRequest, refused, if the client asks).
                loop {
                    let mut len = [0u8; 4];
                    if stream.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                    if stream.read_exact(&mut body).is_err() {
                        return;
                    }
                    if body.starts_with(&80877103u32.to_be_bytes()) {
                        let _ = stream.write_all(b"N");
                        continue;
                    }
                    break;
                }
                let mut fields = Vec::new();
                for (kind, value) in [
                    (b'S', "FATAL"),
                    (b'V', "FATAL"),
                    (b'C', code),
                    (b'M', message.as_str()),
                ] {
                    fields.push(kind);
                    fields.extend_from_slice(value.as_bytes());
                    fields.push(0);
                }
                fields.push(0);
                let mut reply = vec![b'E'];
                reply.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                reply.extend_from_slice(&fields);
                let _ = stream.write_all(&reply);
            });
        }
    });
    port
}

#[test]
fn a_refused_connection_gives_the_servers_reason() {
    let database = format!("devreg_missing_{}", uuid::Uuid::new_v4().simple());
    let port = refusing_postgres("3D000", format!("database \"{database}\" does not exist"));
    let url = format!("postgres://u:{PASSWORD}@127.0.0.1:{port}/{database}");

    let (listened, _, stderr) = assert_password_never_printed(&url);

    assert!(!listened, "{stderr}");
    assert!(
        stderr.contains(&format!("database \"{database}\" does not exist")),
        "{stderr}"
    );
    assert!(stderr.contains("3D000"), "{stderr}");
}

#[test]
fn a_missing_database_and_an_unknown_role_are_told_apart_on_postgres() {
    let Some(admin) = test_postgres() else {
        eprintln!(
            "skipped without DEVREG_TEST_DB: checks a real PostgreSQL server's refusals \
             (a_refused_connection_gives_the_servers_reason checks the message's path)"
        );
        return;
    };
    let (base, _) = admin.rsplit_once('/').unwrap();
    let database = format!("devreg_missing_{}", uuid::Uuid::new_v4().simple());
    let role = format!("devreg_nobody_{}", uuid::Uuid::new_v4().simple());
    let (scheme, rest) = admin.split_once("://").unwrap();
    let (_, host) = rest.split_once('@').unwrap();

    let (_, _, no_database) = serve_and_stop(&[
        "--db",
        &format!("{base}/{database}"),
        "--bind",
        "127.0.0.1:0",
    ]);
    let (_, _, no_role) = serve_and_stop(&[
        "--db",
        &format!("{scheme}://{role}@{host}"),
        "--bind",
        "127.0.0.1:0",
    ]);

    assert!(
        no_database.contains(&format!("database \"{database}\" does not exist")),
        "{no_database}"
    );
    assert!(
        no_role.contains(&format!("role \"{role}\" does not exist")),
        "{no_role}"
    );
}
