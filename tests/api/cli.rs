//! The `devreg` binary's operator commands and first start, run as a user runs them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use crate::helpers::spawn_app_with;

fn devreg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(args)
        .env_remove("DEVREG_DB")
        .env_remove("DEVREG_SECRET_KEY")
        .output()
        .expect("run devreg")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The first whitespace-separated word of the line mentioning `label` that starts with `prefix`.
fn key_after(text: &str, prefix: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} key in: {text}"))
        .to_owned()
}

#[tokio::test]
async fn org_and_key_commands_create_keys_that_the_server_accepts_and_revoke_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ops.db").to_str().unwrap().to_owned();

    let created = devreg(&["org", "create", "org_acme", "--create", "--db", &db]);
    assert!(created.status.success(), "{}", stderr(&created));
    let secret = key_after(&stdout(&created), "edg_live_");
    let publishable = key_after(&stdout(&created), "oct_pub_live_");
    let again = devreg(&["org", "create", "org_acme", "--db", &db]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("org org_acme already exists"),
        "{}",
        stderr(&again)
    );

    let extra = devreg(&[
        "key",
        "create",
        "--org",
        "org_acme",
        "--kind",
        "publishable",
        "--db",
        &db,
    ]);
    assert!(extra.status.success(), "{}", stderr(&extra));
    let extra_key = key_after(&stdout(&extra), "oct_pub_live_");
    let missing_org = devreg(&[
        "key", "create", "--org", "org_nope", "--kind", "secret", "--db", &db,
    ]);
    assert!(stderr(&missing_org).contains("org org_nope does not exist"));
    assert!(
        stderr(&missing_org).contains("devreg org create org_nope"),
        "{}",
        stderr(&missing_org)
    );

    let listing = devreg(&["key", "list", "--db", &db]);
    let listing_text = stdout(&listing);
    assert!(listing_text.contains(&extra_key[..19]), "{listing_text}");
    for key in [&secret, &publishable, &extra_key] {
        assert!(
            !listing_text.contains(key.as_str()),
            "key list shows a whole key"
        );
    }

    let revoked = devreg(&["key", "revoke", &extra_key[..19], "--db", &db]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains("Revoked publishable key"));

    let db_for_server = db.clone();
    let app = spawn_app_with(move |c| {
        c.ephemeral = false;
        c.db = db_for_server;
        c.secret_key = Some(secret.clone());
        c.publishable_key = Some(publishable.clone());
    })
    .await;
    let with_extra = app
        .register(Some(&extra_key), serde_json::json!({"device_id": "d-1"}))
        .await;
    let with_original = app
        .register(
            Some(app.publishable_key()),
            serde_json::json!({"device_id": "d-1"}),
        )
        .await;
    with_extra.assert_error(401, "unauthorized");
    assert_eq!(with_original.status.as_u16(), 201);
    assert_eq!(with_original.body["org_id"], "org_acme");
}

#[test]
fn revoking_an_ambiguous_prefix_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ops.db").to_str().unwrap().to_owned();
    devreg(&["org", "create", "org_a", "--create", "--db", &db]);

    let output = devreg(&["key", "revoke", "edg_live_", "--db", &db]);
    let nothing = devreg(&["key", "revoke", "edg_live_zzzzzz", "--db", &db]);

    // "edg_live_" alone names one key here: the org's only secret key. Two make it ambiguous.
    assert!(output.status.success(), "{}", stderr(&output));
    devreg(&[
        "key", "create", "--org", "org_a", "--kind", "secret", "--db", &db,
    ]);
    devreg(&[
        "key", "create", "--org", "org_a", "--kind", "secret", "--db", &db,
    ]);
    let ambiguous = devreg(&["key", "revoke", "edg_live_", "--db", &db]);
    assert!(!ambiguous.status.success());
    assert!(
        stderr(&ambiguous).contains("matches"),
        "{}",
        stderr(&ambiguous)
    );
    assert!(!nothing.status.success());
    assert!(stderr(&nothing).contains("no key"), "{}", stderr(&nothing));
}

#[test]
fn first_start_prints_the_demo_keys_once_and_later_starts_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("first.db").to_str().unwrap().to_owned();

    let first = start_and_read_banner(&db);
    let second = start_and_read_banner(&db);

    assert!(first.contains("org_demo"), "{first}");
    key_after(&first, "edg_live_");
    key_after(&first, "oct_pub_live_");
    assert!(!second.contains("edg_live_"), "{second}");
}

#[test]
fn the_banner_says_how_to_replace_a_lost_key_and_an_in_memory_one_not_never_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("first.db").to_str().unwrap().to_owned();

    let on_file = start_and_read_banner(&db);
    let in_memory = start_and_read_banner(":memory:");

    let command = format!("devreg key create --org org_demo --kind secret --db {db}");
    assert!(on_file.contains(&command), "{on_file}");
    assert!(on_file.contains("never again"), "{on_file}");
    key_after(&in_memory, "edg_live_");
    assert!(!in_memory.contains("never again"), "{in_memory}");
    assert!(
        in_memory.contains("in memory") && in_memory.contains("until this server stops"),
        "{in_memory}"
    );
    // The command the banner gives works, and its key is a new one.
    let shown = key_after(&on_file, "edg_live_");
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let created = devreg(&args);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_ne!(key_after(&stdout(&created), "edg_live_"), shown);
}

/// Starts `devreg serve` on `db`, returns what it printed on stdout before it was ready.
fn start_and_read_banner(db: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db", db])
        .env_remove("DEVREG_SECRET_KEY")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn devreg serve");
    // The server logs "listening on" to stderr once it is bound; the banner precedes it.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    for line in stderr.lines() {
        if line.expect("read stderr").contains("listening on") {
            break;
        }
    }
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    stdout(&output)
}

#[test]
fn serve_refuses_a_malformed_preset_key_and_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db").to_str().unwrap().to_owned();
    let not_db = dir.path().join("notes.txt");
    std::fs::write(
        &not_db,
        "these are not the pages you are looking for ".repeat(100),
    )
    .unwrap();

    let bad_key = devreg(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--db",
        &db,
        "--secret-key",
        "edg_live_short",
    ]);
    let bad_file = devreg(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--db",
        not_db.to_str().unwrap(),
    ]);

    assert!(!bad_key.status.success());
    assert!(
        stderr(&bad_key).contains("--secret-key (or DEVREG_SECRET_KEY) must be a secret key"),
        "{}",
        stderr(&bad_key)
    );
    assert!(!bad_file.status.success());
    assert!(
        stderr(&bad_file).contains(not_db.to_str().unwrap()),
        "{}",
        stderr(&bad_file)
    );
    assert_eq!(
        std::fs::read_to_string(&not_db).unwrap(),
        "these are not the pages you are looking for ".repeat(100),
        "the file is left untouched"
    );
}

#[test]
fn help_documents_every_setting_and_its_environment_variable() {
    let help = devreg(&["serve", "--help"]);
    let text = stdout(&help);

    for flag in [
        "--bind",
        "--db",
        "--open-registration",
        "--secret-key",
        "--publishable-key",
        "--heartbeat-interval",
        "--workers",
    ] {
        assert!(text.contains(flag), "{flag} missing from serve --help");
    }
    for env in [
        "DEVREG_BIND",
        "DEVREG_DB",
        "DEVREG_OPEN_REGISTRATION",
        "DEVREG_SECRET_KEY",
    ] {
        assert!(text.contains(env), "{env} missing from serve --help");
    }
    let top = stdout(&devreg(&["--help"]));
    for command in ["serve", "org", "key"] {
        assert!(top.contains(command), "{command} missing from --help");
    }
}

#[tokio::test]
async fn seed_registers_devices_whose_written_keys_heartbeat() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("seeded.db").to_str().unwrap().to_owned();
    let keys = dir.path().join("keys.csv");
    let created = devreg(&["org", "create", "org_load", "--create", "--db", &db]);
    let secret = key_after(&stdout(&created), "edg_live_");

    let seeded = devreg(&[
        "seed",
        "--devices",
        "25",
        "--org",
        "org_load",
        "--keys-out",
        keys.to_str().unwrap(),
        "--keys-limit",
        "10",
        "--db",
        &db,
    ]);
    let refused = devreg(&["seed", "--devices", "1", "--org", "org_nope", "--db", &db]);

    assert!(seeded.status.success(), "{}", stderr(&seeded));
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("org_nope"),
        "{}",
        stderr(&refused)
    );
    let lines: Vec<(String, String)> = std::fs::read_to_string(&keys)
        .unwrap()
        .lines()
        .map(|l| {
            let (id, key) = l.split_once(',').unwrap();
            (id.to_owned(), key.to_owned())
        })
        .collect();
    assert_eq!(lines.len(), 10);
    let db_for_server = db.clone();
    let app = spawn_app_with(move |c| {
        c.ephemeral = false;
        c.db = db_for_server;
        c.secret_key = Some(format!("edg_live_{}", "S3cr3t".repeat(5)));
        c.publishable_key = Some(format!("oct_pub_live_{}", "Publ1c".repeat(5)));
    })
    .await;
    for (id, key) in &lines {
        let beat = app.heartbeat(Some(key), id, None).await;
        assert_eq!(beat.status.as_u16(), 200, "{}", beat.body);
    }
    let last = app.get_device(Some(&secret), &lines[9].0).await;
    assert_eq!(
        last.body["device_id"], "seed-18",
        "keys spread over all devices"
    );
    let all = app.list(Some(&secret), "org_id=org_load").await;
    let inactive = app
        .list(Some(&secret), "org_id=org_load&status=inactive")
        .await;
    assert_eq!(all.body["total"], 25, "{}", all.body);
    // Keys are written for every second device (25 / 10), ten in all. Every fifth
    // seeded device starts inactive (seed-4, -9, -14, -19, -24); the heartbeats above made
    // the keyed ones among them (seed-4 and seed-14) active again.
    assert_eq!(inactive.body["total"], 3, "{}", inactive.body);
}

#[test]
fn operator_commands_refuse_a_database_file_that_does_not_exist_and_create_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mistyped.db");
    let db = path.to_str().unwrap();
    let keys = dir.path().join("keys.csv");
    let backup = dir.path().join("copy.db");

    for args in [
        vec!["key", "list", "--db", db],
        vec!["key", "revoke", "edg_live_AbCdEf", "--db", db],
        vec![
            "key", "create", "--org", "org_demo", "--kind", "secret", "--db", db,
        ],
        vec!["org", "create", "org_acme", "--db", db],
        vec![
            "seed",
            "--devices",
            "1",
            "--keys-out",
            keys.to_str().unwrap(),
            "--db",
            db,
        ],
        vec!["backup", backup.to_str().unwrap(), "--db", db],
    ] {
        let output = devreg(&args);

        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&output).contains(&format!("database file {db} does not exist")),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!path.exists(), "{args:?} created {db}");
        assert!(!keys.exists(), "{args:?} created the keys file");
    }
    let created = devreg(&["org", "create", "org_acme", "--create", "--db", db]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(path.exists());
}

#[test]
fn seed_into_a_missing_org_says_what_to_run_and_writes_no_keys_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ops.db").to_str().unwrap().to_owned();
    let keys = dir.path().join("keys.csv");
    devreg(&["org", "create", "org_a", "--create", "--db", &db]);

    let refused = devreg(&[
        "seed",
        "--devices",
        "3",
        "--org",
        "org_nope",
        "--keys-out",
        keys.to_str().unwrap(),
        "--db",
        &db,
    ]);

    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("create it first with `devreg org create org_nope`"),
        "{}",
        stderr(&refused)
    );
    assert!(!keys.exists(), "a refused seed left {}", keys.display());
}

#[test]
fn a_database_in_a_missing_directory_is_refused_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let db = missing.join("devreg.db");
    let db = db.to_str().unwrap();

    let serve = devreg(&["serve", "--bind", "127.0.0.1:0", "--db", db]);
    let list = devreg(&["key", "list", "--db", db]);
    let create = devreg(&["org", "create", "org_a", "--create", "--db", db]);

    let expected = format!("the directory {} does not exist", missing.display());
    for (what, output) in [("serve", serve), ("key list", list), ("org create", create)] {
        assert!(!output.status.success(), "{what} succeeded");
        assert!(
            stderr(&output).contains(&expected),
            "{what}: {}",
            stderr(&output)
        );
    }
    assert!(!missing.exists());
}

#[test]
fn key_revoke_takes_the_prefix_as_key_list_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ops.db").to_str().unwrap().to_owned();
    devreg(&["org", "create", "org_a", "--create", "--db", &db]);
    let listing = stdout(&devreg(&["key", "list", "--db", &db]));
    // The PREFIX column, ellipsis and all, as a user copies it.
    let shown = key_after(&listing, "edg_live_");
    assert!(shown.ends_with('…'), "{listing}");

    let revoked = devreg(&["key", "revoke", &shown, "--db", &db]);
    let dotted = devreg(&[
        "key",
        "revoke",
        &format!(
            "{}...",
            key_after(&listing, "oct_pub_live_").trim_end_matches('…')
        ),
        "--db",
        &db,
    ]);

    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&revoked).contains("Revoked secret key"));
    assert!(dotted.status.success(), "{}", stderr(&dotted));
    let after = stdout(&devreg(&["key", "list", "--db", &db]));
    // Both keys now show a revocation time instead of "-".
    assert!(
        after.lines().skip(1).all(|l| !l.trim_end().ends_with(" -")),
        "{after}"
    );
}

#[test]
fn an_ambiguous_prefix_lists_the_keys_it_matches() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ops.db").to_str().unwrap().to_owned();
    devreg(&["org", "create", "org_a", "--create", "--db", &db]);
    devreg(&["org", "create", "org_b", "--db", &db]);
    let listing = stdout(&devreg(&["key", "list", "--db", &db]));
    let ids: Vec<&str> = listing
        .lines()
        .filter(|l| l.contains(" secret "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{listing}");

    let ambiguous = devreg(&["key", "revoke", "edg_live_…", "--db", &db]);
    let none = devreg(&["key", "revoke", "edg_live_zzzzzz…", "--db", &db]);

    assert!(!ambiguous.status.success());
    let message = stderr(&ambiguous);
    assert!(message.contains("matches 2 keys"), "{message}");
    for id in ids {
        assert!(message.contains(id), "{id} missing from: {message}");
    }
    assert!(
        message.contains("org_a") && message.contains("org_b"),
        "{message}"
    );
    assert!(!none.status.success());
    assert!(
        stderr(&none).contains("no key has the id or prefix \"edg_live_zzzzzz\""),
        "{}",
        stderr(&none)
    );
}

/// Starts `devreg serve` with `args` and returns it once it logs that it listens.
fn serve_until_listening(args: &[&str]) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devreg"))
        .arg("serve")
        .args(args)
        .env_remove("DEVREG_DB")
        .env_remove("DEVREG_SECRET_KEY")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn devreg serve");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for line in stderr.lines().map_while(Result::ok) {
        if line.contains("listening on") {
            return child;
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("devreg serve exited before listening:\n{seen}");
}

#[test]
fn a_second_server_on_the_same_file_refuses_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db").to_str().unwrap().to_owned();
    let mut first = serve_until_listening(&["--bind", "127.0.0.1:0", "--db", &db]);

    let second = devreg(&["serve", "--bind", "127.0.0.1:0", "--db", &db]);
    // In memory there is nothing to share: two such servers run side by side.
    let mut memory_a = serve_until_listening(&["--bind", "127.0.0.1:0", "--db", ":memory:"]);
    let mut memory_b = serve_until_listening(&["--bind", "127.0.0.1:0", "--db", ":memory:"]);
    first.kill().unwrap();
    first.wait().unwrap();
    let mut third = serve_until_listening(&["--bind", "127.0.0.1:0", "--db", &db]);

    assert!(!second.status.success());
    let message = stderr(&second);
    assert!(
        message.contains(&format!(
            "database {db} is already served by devreg serve (pid {}",
            first.id()
        )),
        "{message}"
    );
    assert!(message.contains(&format!("{db}.lock")), "{message}");
    assert!(message.contains("http://127.0.0.1:"), "{message}");
    // The lock went with the killed process: the third server started.
    for child in [&mut third, &mut memory_a, &mut memory_b] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Runs `devreg serve --ephemeral` with `args` (global flags first) and `rust_log`,
/// and returns its stderr once it stopped at the end of its standard input.
fn ephemeral_log(args: &[&str], rust_log: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devreg"));
    command
        .args(args)
        .args(["serve", "--ephemeral", "--exit-on-stdin-close"])
        .env_remove("DEVREG_LOG_LEVEL")
        .env_remove("DEVREG_LOG_FORMAT")
        .stdin(Stdio::null());
    match rust_log {
        Some(filter) => command.env("RUST_LOG", filter),
        None => command.env_remove("RUST_LOG"),
    };
    let output = command.output().expect("run devreg serve");
    assert!(output.status.success(), "{}", stderr(&output));
    stderr(&output)
}

#[test]
fn log_level_and_log_format_flags_set_the_log_beside_rust_log() {
    let quiet = ephemeral_log(&["--log-level", "warn"], Some("info"));
    let loud = ephemeral_log(&["--log-level", "info"], Some("error"));
    let json = ephemeral_log(&["--log-format", "json"], None);

    assert!(!quiet.contains("listening on"), "{quiet}");
    assert!(loud.contains("listening on"), "{loud}");
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let listening = lines
        .iter()
        .find(|l| l["message"].as_str().unwrap().contains("listening on"))
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(listening["level"], "INFO");
    assert_eq!(listening["target"], "devreg::cli");
    assert!(listening["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn an_invalid_log_filter_is_a_warning_and_logging_goes_on_at_info() {
    let from_env = ephemeral_log(&[], Some("verbose"));
    let from_flag = ephemeral_log(&["--log-level", "devreg=loud"], None);

    for (log, bad) in [(&from_env, "\"verbose\""), (&from_flag, "\"devreg=loud\"")] {
        assert!(
            log.lines()
                .next()
                .is_some_and(|l| l.contains("warning") && l.contains(bad)),
            "{log}"
        );
        assert!(log.contains("listening on"), "{log}");
    }
}

#[test]
fn model_add_takes_only_the_http_and_https_urls_the_api_takes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db").to_string_lossy().into_owned();
    assert!(
        devreg(&["org", "create", "org_demo", "--create", "--db", &db])
            .status
            .success()
    );
    let sha = "a".repeat(64);
    let add = |version: &str, url: &str| {
        devreg(&[
            "model",
            "add",
            "kbd",
            "--version",
            version,
            "--url",
            url,
            "--size",
            "10",
            "--sha256",
            &sha,
            "--db",
            &db,
        ])
    };

    let refused = add("1", "javascript:alert(1)");
    let accepted = add("2", "https://models.example/kbd-2.onnx");

    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("--url"), "{}", stderr(&refused));
    assert!(accepted.status.success(), "{}", stderr(&accepted));
    // Nothing of the refused version was stored: its number is still free.
    let retried = add("1", "http://models.example/kbd-1.onnx");
    assert!(retried.status.success(), "{}", stderr(&retried));
}
