//! `devreg backup` and `devreg migrate` with hosted files (issue 26): a backup takes the
//! files its rows name into the directory a server on the copy uses by default, and
//! fails naming a file the store lacks; a migration to PostgreSQL says where the files
//! stayed and what the new servers must be started with.

use std::path::Path;
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use crate::helpers::{TestDatabase, require_postgres};

fn devreg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devreg"))
        .args(args)
        .env_remove("DEVREG_DB")
        .env_remove("DEVREG_ARTIFACTS")
        .output()
        .expect("run devreg")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A database `dir/devreg.db` with org `acme` and version 1.0.0 of model `kbd` pushed
/// from `bytes`; answers the database's path and the file's digest.
fn pushed_database(dir: &Path, bytes: &[u8]) -> (String, String) {
    let db = dir.join("devreg.db").to_str().unwrap().to_owned();
    let created = devreg(&["org", "create", "acme", "--db", &db, "--create"]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let model = dir.join("kbd.onnx");
    std::fs::write(&model, bytes).unwrap();
    let pushed = devreg(&[
        "model",
        "push",
        model.to_str().unwrap(),
        "--model",
        "kbd",
        "--version",
        "1.0.0",
        "--org",
        "acme",
        "--db",
        &db,
        "--quiet",
    ]);
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));
    (db, sha256_hex(bytes))
}

#[test]
fn artifacts_backup_copies_the_files_its_rows_name_beside_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
    let (db, digest) = pushed_database(dir.path(), &bytes);
    let out = dir.path().join("backups/copy.db");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();

    let backup = devreg(&["backup", out.to_str().unwrap(), "--db", &db]);

    assert!(backup.status.success(), "{}", text(&backup.stderr));
    let said = text(&backup.stdout);
    assert!(
        said.contains("Copied its 1 hosted file(s), 300000 bytes")
            && said.contains("backups/copy-artifacts"),
        "{said}"
    );
    let copied = dir
        .path()
        .join("backups/copy-artifacts/blobs")
        .join(&digest[..2])
        .join(&digest);
    assert_eq!(std::fs::read(&copied).unwrap(), bytes);
    // The copy keeps its file when the original goes (a link or a copy, never a move).
    std::fs::remove_file(
        dir.path()
            .join("devreg-artifacts/blobs")
            .join(&digest[..2])
            .join(&digest),
    )
    .unwrap();
    assert_eq!(std::fs::read(&copied).unwrap(), bytes);
}

#[test]
fn artifacts_backup_fails_naming_a_file_the_directory_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let (db, digest) = pushed_database(dir.path(), b"weights");
    std::fs::remove_file(
        dir.path()
            .join("devreg-artifacts/blobs")
            .join(&digest[..2])
            .join(&digest),
    )
    .unwrap();
    let out = dir.path().join("copy.db");

    let backup = devreg(&["backup", out.to_str().unwrap(), "--db", &db]);

    assert!(!backup.status.success());
    let said = text(&backup.stderr);
    assert!(
        said.contains(&digest) && said.contains("is missing from"),
        "{said}"
    );
}

#[test]
fn artifacts_backup_of_a_database_without_hosted_files_copies_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("devreg.db").to_str().unwrap().to_owned();
    assert!(
        devreg(&["org", "create", "acme", "--db", &db, "--create"])
            .status
            .success()
    );
    let out = dir.path().join("copy.db");

    let backup = devreg(&["backup", out.to_str().unwrap(), "--db", &db]);

    assert!(backup.status.success(), "{}", text(&backup.stderr));
    assert!(
        text(&backup.stdout).contains("no hosted files"),
        "{}",
        text(&backup.stdout)
    );
    assert!(!dir.path().join("copy-artifacts").exists());
}

#[test]
#[ignore = "needs PostgreSQL (DEVREG_TEST_DB); .ci/pg runs it"]
fn artifacts_migrate_keeps_the_rows_and_says_the_files_stay_in_the_directory() {
    require_postgres();
    let dir = tempfile::tempdir().unwrap();
    let (db, digest) = pushed_database(dir.path(), b"weights for postgres");
    let target = TestDatabase::create().unwrap();

    let migrated = devreg(&["migrate", "--from", &db, "--to", &target.url]);

    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    let said = text(&migrated.stdout);
    let directory = dir.path().join("devreg-artifacts");
    assert!(
        said.contains("artifact_files")
            && said.contains("Its 1 hosted file(s), 20 bytes, stay in the directory")
            && said.contains(&format!("--artifacts {}", directory.display())),
        "{said}"
    );
    let url = target.url.clone();
    let rows = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .query("SELECT sha256 FROM artifact_files", &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert_eq!(rows, vec![digest]);
}
