//! What `devreg backup` and `devreg migrate` do with hosted files (issue 26): the rows
//! they copy name files by digest, and those files live outside the database. A backup
//! of a server whose files are in a directory takes them along, into the directory a
//! server on the copy looks in by default; a migration to PostgreSQL checks every file
//! the copied rows name is in the store and says what the PostgreSQL servers must be
//! started with. Files in an S3 bucket are shared by every server and are not copied:
//! the sentence says so and names the bucket.

use std::fs;
use std::path::Path;

use super::Artifacts;

/// What was carried, for the operator.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Carried {
    pub files: u64,
    pub bytes: u64,
}

impl Artifacts {
    /// Whether the file of digest `sha256` is stored; its size when it is. Blocking.
    pub fn stored_size(&self, sha256: &str) -> std::io::Result<Option<u64>> {
        if let Some(bucket) = &self.inner.s3 {
            return bucket.size(sha256).map_err(Into::into);
        }
        match fs::metadata(self.blob(sha256)) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// After `devreg backup` wrote the database copy `copy`: the files its rows name, from
/// `store`, into the directory a server on `copy` uses by default
/// (`Artifacts::default_directory`), hard-linked where the file system allows (a
/// stored file never changes; a link keeps the backup's copy when the store reclaims
/// its own) and copied where it does not. Answers the sentence to print. A file the
/// rows name that the store lacks is an error naming it.
pub fn back_up(store: &Artifacts, copy: &Path, digests: &[String]) -> Result<String, String> {
    if store.is_s3() {
        return Ok(format!(
            "The {} hosted file(s) its rows name are in {}, which a backup does not copy: \
             the bucket is shared by every server on this database. Back it up with the \
             object store's own tools (versioning, replication, or `aws s3 sync`).",
            digests.len(),
            store.location()
        ));
    }
    let target = Artifacts::default_directory(&copy.to_string_lossy());
    if digests.is_empty() {
        return Ok("It names no hosted files: there were none to copy.".to_owned());
    }
    if target.exists() {
        return Err(format!(
            "{} already exists; a backup never overwrites its files",
            target.display()
        ));
    }
    let mut carried = Carried::default();
    for sha256 in digests {
        let from = store.blob(sha256);
        let to = target.join("blobs").join(sha256.get(..2).unwrap_or("00"));
        fs::create_dir_all(&to).map_err(|e| format!("cannot make {}: {e}", to.display()))?;
        let to = to.join(sha256);
        if !from.exists() {
            return Err(format!(
                "hosted file {sha256}, which the database names, is missing from {}: the \
                 backup of the database is written, its files are not complete",
                store.location()
            ));
        }
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to)
                .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
        }
        carried.files += 1;
        carried.bytes += fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
    }
    Ok(format!(
        "Copied its {} hosted file(s), {} bytes, from {} to {}, where `devreg serve --db {}` \
         finds them (with --artifacts given, give it --artifacts {}).",
        carried.files,
        carried.bytes,
        store.location(),
        target.display(),
        copy.display(),
        target.display()
    ))
}

/// After `devreg migrate` copied the rows: checks that `store` (the SQLite server's)
/// holds every file the rows name, and answers what the operator must do so servers on
/// PostgreSQL find them.
pub fn after_migrate(store: &Artifacts, digests: &[String]) -> Result<String, String> {
    let mut carried = Carried::default();
    let mut missing = Vec::new();
    for sha256 in digests {
        match store.stored_size(sha256) {
            Ok(Some(size)) => {
                carried.files += 1;
                carried.bytes += size;
            }
            Ok(None) => missing.push(sha256.as_str()),
            Err(e) => return Err(format!("cannot read {}: {e}", store.location())),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "the copied rows name {} hosted file(s) that {} does not hold ({}): pass the \
             SQLite server's --artifacts to migrate",
            missing.len(),
            store.location(),
            missing.join(", ")
        ));
    }
    if digests.is_empty() {
        return Ok("No hosted files: nothing to copy.".to_owned());
    }
    if store.is_s3() {
        return Ok(format!(
            "Its {} hosted file(s), {} bytes, are in {}, which is shared: nothing to copy. \
             Start every server on PostgreSQL with --artifacts {}.",
            carried.files,
            carried.bytes,
            store.location(),
            store.location()
        ));
    }
    Ok(format!(
        "Its {} hosted file(s), {} bytes, stay in the directory {} and were not copied. \
         Start a server on PostgreSQL on this machine with --artifacts {}; for several \
         servers, copy the directory's blobs/ to each (same path), or to an S3 bucket as \
         PREFIX/blobs/… and start them with --artifacts s3://BUCKET/PREFIX.",
        carried.files,
        carried.bytes,
        store.location(),
        store.location()
    ))
}
