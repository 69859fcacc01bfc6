//! Hosted artifacts' bytes (issue 26): files stored by their SHA-256 outside the
//! database, in a directory (`--artifacts DIR`, by default beside the database; a
//! temporary one for an ephemeral server). Uploads arrive as a partial file per upload,
//! hashed on the way; a finished upload is renamed to its digest, so a file published
//! twice is stored once. Also the URL signatures: an HMAC-SHA256 over what the URL may
//! do, for the SDKs that fetch without an Authorization header.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod push;

use dashmap::DashMap;
use sha2::{Digest, Sha256};

use crate::domain::quoted;
use crate::error::ApiError;

/// Where artifacts' bytes live, and the hashing state of the uploads in progress.
#[derive(Clone)]
pub struct Artifacts {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    /// Kept for the server's life when the directory is temporary; removed with it.
    _temporary: Option<tempfile::TempDir>,
    /// Per upload in progress: the bytes hashed so far and the hash state, so a resumed
    /// upload does not hash again what it sent before (after a restart it does).
    hashing: DashMap<String, (u64, Sha256)>,
}

/// Why a write into storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the disk is full")]
    DiskFull,
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl StorageError {
    fn of(e: io::Error) -> StorageError {
        if e.raw_os_error() == Some(libc::ENOSPC) || e.kind() == io::ErrorKind::StorageFull {
            StorageError::DiskFull
        } else {
            StorageError::Io(e)
        }
    }
}

/// A finished upload's size and digest (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub size: u64,
    pub sha256: String,
}

impl Artifacts {
    /// Storage in directory `root`, made if missing.
    pub fn in_directory(root: &Path) -> io::Result<Artifacts> {
        Self::open(root.to_path_buf(), None)
    }

    /// Storage in a fresh temporary directory, removed when the server is dropped.
    pub fn temporary() -> io::Result<Artifacts> {
        let dir = tempfile::Builder::new()
            .prefix("devreg-artifacts-")
            .tempdir()?;
        Self::open(dir.path().to_path_buf(), Some(dir))
    }

    fn open(root: PathBuf, temporary: Option<tempfile::TempDir>) -> io::Result<Artifacts> {
        fs::create_dir_all(root.join("blobs"))?;
        fs::create_dir_all(root.join("partial"))?;
        Ok(Artifacts {
            inner: Arc::new(Inner {
                root,
                _temporary: temporary,
                hashing: DashMap::new(),
            }),
        })
    }

    /// The directory `--artifacts` defaults to for database `db`: `NAME-artifacts` beside
    /// a file `NAME.db`; `devreg-artifacts` in the working directory for PostgreSQL.
    pub fn default_directory(db: &str) -> PathBuf {
        if crate::store::pg::is_url(db) {
            return PathBuf::from("devreg-artifacts");
        }
        let path = Path::new(db);
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "devreg".to_owned());
        path.with_file_name(format!("{stem}-artifacts"))
    }

    /// The directory the files are in.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn partial(&self, upload_id: &str) -> PathBuf {
        self.inner.root.join("partial").join(upload_id)
    }

    /// Where the file of digest `sha256` is stored.
    pub fn blob(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("00");
        self.inner.root.join("blobs").join(prefix).join(sha256)
    }

    /// The bytes of upload `upload_id` received so far.
    pub fn received(&self, upload_id: &str) -> u64 {
        fs::metadata(self.partial(upload_id))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Opens upload `upload_id` for bytes from `offset` on: from 0 it starts over; past 0
    /// it must be the bytes received so far (`Err(Some(received))` otherwise). Blocking.
    pub fn open_upload(&self, upload_id: &str, offset: u64) -> Result<UploadWriter, Option<u64>> {
        let path = self.partial(upload_id);
        let received = self.received(upload_id);
        if offset != 0 && offset != received {
            return Err(Some(received));
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(offset == 0)
            .open(&path)
            .map_err(|_| None)?;
        let hasher = match self.inner.hashing.remove(upload_id) {
            Some((_, (hashed, hasher))) if hashed == offset => hasher,
            _ => {
                // After a restart, or a retry after a write that failed half-way: hash
                // what is on disk again.
                let mut hasher = Sha256::new();
                if offset > 0 {
                    let mut file = File::open(&path).map_err(|_| None)?;
                    io::copy(&mut (&mut file).take(offset), &mut hasher).map_err(|_| None)?;
                }
                hasher
            }
        };
        let mut writer = UploadWriter {
            artifacts: self.clone(),
            upload_id: upload_id.to_owned(),
            file,
            hasher,
            written: offset,
        };
        writer
            .file
            .seek(SeekFrom::Start(offset))
            .map_err(|_| None)?;
        Ok(writer)
    }

    /// The size and digest of upload `upload_id`'s bytes, from the hash state its writes
    /// kept (or from the file, after a restart). Blocking.
    pub fn digest_upload(&self, upload_id: &str) -> io::Result<Received> {
        let path = self.partial(upload_id);
        let size = fs::metadata(&path)?.len();
        let hasher = match self.inner.hashing.get(upload_id) {
            Some(entry) if entry.0 == size => entry.1.clone(),
            _ => {
                let mut hasher = Sha256::new();
                io::copy(&mut File::open(&path)?, &mut hasher)?;
                hasher
            }
        };
        Ok(Received {
            size,
            sha256: hex(&hasher.finalize()),
        })
    }

    /// Moves upload `upload_id`'s bytes, of digest `sha256`, to the digest's place: a file
    /// stored already is kept once. Blocking.
    pub fn store_upload(&self, upload_id: &str, sha256: &str) -> io::Result<()> {
        let path = self.partial(upload_id);
        let blob = self.blob(sha256);
        if let Some(parent) = blob.parent() {
            fs::create_dir_all(parent)?;
        }
        if blob.exists() {
            fs::remove_file(&path)?;
        } else {
            File::open(&path)?.sync_all()?;
            fs::rename(&path, &blob)?;
        }
        self.inner.hashing.remove(upload_id);
        Ok(())
    }

    /// Removes upload `upload_id`'s bytes, if any.
    pub fn discard_upload(&self, upload_id: &str) {
        self.inner.hashing.remove(upload_id);
        let _ = fs::remove_file(self.partial(upload_id));
    }

    /// Removes every stored file whose digest `in_use` does not name, and every partial
    /// upload `live` does not name; returns the bytes freed. Blocking.
    pub fn reclaim(
        &self,
        in_use: &std::collections::HashSet<String>,
        live: &std::collections::HashSet<String>,
    ) -> u64 {
        let mut freed = 0;
        let mut remove = |path: &Path| {
            if let Ok(meta) = fs::metadata(path)
                && fs::remove_file(path).is_ok()
            {
                freed += meta.len();
            }
        };
        if let Ok(partials) = fs::read_dir(self.inner.root.join("partial")) {
            for entry in partials.flatten() {
                if !live.contains(&*entry.file_name().to_string_lossy()) {
                    remove(&entry.path());
                }
            }
        }
        if let Ok(prefixes) = fs::read_dir(self.inner.root.join("blobs")) {
            for prefix in prefixes.flatten() {
                for entry in fs::read_dir(prefix.path()).into_iter().flatten().flatten() {
                    if !in_use.contains(&*entry.file_name().to_string_lossy()) {
                        remove(&entry.path());
                    }
                }
            }
        }
        freed
    }
}

/// Checks a finished upload's bytes against what the uploader says and stores them by
/// digest; on a mismatch the upload and its bytes are removed (400).
pub async fn finish(
    artifacts: &Artifacts,
    db: &crate::store::Db,
    upload_id: &str,
    size: u64,
    sha256: Option<&str>,
) -> Result<(), ApiError> {
    let store = artifacts.clone();
    let id = upload_id.to_owned();
    let received = actix_web::web::block(move || store.digest_upload(&id))
        .await
        .map_err(|e| ApiError::Internal(format!("digesting an upload: {e}")))?
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ApiError::Conflict(format!(
                    "upload {} has no bytes yet; PUT the file to its upload_url first",
                    quoted(upload_id)
                ))
            } else {
                ApiError::Internal(format!("digesting an upload: {e}"))
            }
        })?;
    let mismatch = if received.size != size {
        Some(format!(
            "{} bytes arrived, not the {size} declared",
            received.size
        ))
    } else if let Some(expected) = sha256.filter(|s| !s.eq_ignore_ascii_case(&received.sha256)) {
        Some(format!(
            "the bytes have SHA-256 {}, not the {} declared",
            received.sha256,
            quoted(expected)
        ))
    } else {
        None
    };
    if let Some(why) = mismatch {
        artifacts.discard_upload(upload_id);
        let id = upload_id.to_owned();
        db.write(move |tx| crate::store::artifacts::delete_upload(tx, &id))
            .await?;
        return Err(ApiError::BadRequest(format!(
            "upload {}: {why}; it was removed and nothing was published, upload again",
            quoted(upload_id)
        )));
    }
    let store = artifacts.clone();
    let (id, digest) = (upload_id.to_owned(), received.sha256.clone());
    actix_web::web::block(move || store.store_upload(&id, &digest))
        .await
        .map_err(|e| ApiError::Internal(format!("storing an upload: {e}")))?
        .map_err(|e| ApiError::Internal(format!("storing an upload: {e}")))?;
    let id = upload_id.to_owned();
    let size = received.size as i64;
    db.write(move |tx| crate::store::artifacts::finish_upload(tx, &id, size, &received.sha256))
        .await?;
    Ok(())
}

/// An upload's file open for writing, hashing what it writes.
pub struct UploadWriter {
    artifacts: Artifacts,
    upload_id: String,
    file: File,
    hasher: Sha256,
    written: u64,
}

impl UploadWriter {
    /// Appends `bytes`. Blocking.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.file.write_all(bytes).map_err(StorageError::of)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// The upload's bytes so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Keeps the hash state for the next request of this upload (a resume or the
    /// finish), after the bytes are flushed to the file.
    pub fn close(mut self) -> Result<u64, StorageError> {
        self.file.flush().map_err(StorageError::of)?;
        self.artifacts
            .inner
            .hashing
            .insert(self.upload_id.clone(), (self.written, self.hasher.clone()));
        Ok(self.written)
    }
}

/// Whether `path` is an artifact upload's, whose body is a file of up to
/// `--artifact-max-bytes`: exempt from the whole-body deadline (its handler times out
/// each chunk instead), the 64 KiB limit and the request journal.
pub fn is_upload_path(path: &str) -> bool {
    path.starts_with("/api/v1/artifacts/uploads/")
}

/// A new signing key: 32 bytes from the OS random source, as hex.
pub fn fresh_key() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source failed");
    hex(&key)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 of `message` under `key` (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// What a signature authorises: an action on one resource of one org until a second.
pub fn signature(key: &str, action: &str, org_id: &str, resource: &str, expires: i64) -> String {
    let message = format!("{action}\n{org_id}\n{resource}\n{expires}");
    hex(&hmac_sha256(key.as_bytes(), message.as_bytes()))
}

/// Whether `given` is the signature of what it claims, compared in constant time.
pub fn signature_matches(
    key: &str,
    action: &str,
    org_id: &str,
    resource: &str,
    expires: i64,
    given: &str,
) -> bool {
    let expected = signature(key, action, org_id, resource, expires);
    if expected.len() != given.len() {
        return false;
    }
    expected
        .bytes()
        .zip(given.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// A requested byte range, inclusive, within a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No `Range`, or one devreg serves whole (several ranges, another unit).
    Whole,
    Part {
        start: u64,
        end: u64,
    },
    /// Outside the file: 416.
    Unsatisfiable,
}

/// The one range of a `Range` header, within a file of `size` bytes.
pub fn parse_range(header: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = if first.is_empty() {
        match last.parse::<u64>() {
            Ok(0) | Err(_) => return ByteRange::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size.saturating_sub(1)),
        }
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return ByteRange::Whole;
        };
        let end = if last.is_empty() {
            size.saturating_sub(1)
        } else {
            match last.parse::<u64>() {
                Ok(end) => end.min(size.saturating_sub(1)),
                Err(_) => return ByteRange::Whole,
            }
        };
        if !last.is_empty() && last.parse::<u64>().is_ok_and(|e| e < start) {
            return ByteRange::Whole;
        }
        (start, end)
    };
    if size == 0 || parsed.0 >= size {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part {
        start: parsed.0,
        end: parsed.1,
    }
}

/// Whether a path inside an artifact is one devreg stores: relative, no `..` or `.`
/// segment, no empty segment, no control character or backslash, at most 512 characters.
pub fn check_file_path(path: &str) -> Result<(), String> {
    // Characters, not bytes: what the document's `maxLength` counts.
    if path.is_empty() || path.chars().count() > 512 {
        return Err("a file path must be 1 to 512 characters".to_owned());
    }
    if path.starts_with('/') {
        return Err(format!(
            "file path {path:?} is absolute; give it relative to the version"
        ));
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err(format!(
            "file path {path:?} has a control character or a backslash"
        ));
    }
    if path
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!("file path {path:?} has an empty, . or .. segment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn ranges_parse_as_rfc_9110_says() {
        assert_eq!(parse_range(None, 10), ByteRange::Whole);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10),
            ByteRange::Part { start: 0, end: 3 }
        );
        assert_eq!(
            parse_range(Some("bytes=4-"), 10),
            ByteRange::Part { start: 4, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-3"), 10),
            ByteRange::Part { start: 7, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=5-100"), 10),
            ByteRange::Part { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), ByteRange::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), ByteRange::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), ByteRange::Whole);
    }

    #[test]
    fn file_paths_that_escape_or_hide_are_refused() {
        assert!(check_file_path("model.onnx").is_ok());
        assert!(check_file_path("weights/part-1.bin").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a\u{7}b",
            "a\\b",
            "./a",
        ] {
            assert!(check_file_path(bad).is_err(), "{bad:?}");
        }
    }
}
