//! Hosted artifacts' bytes (issue 26): files stored by their SHA-256 outside the
//! database, in a directory (`--artifacts DIR`, by default beside the database; a
//! temporary one for an ephemeral server). Uploads arrive as a partial file per upload,
//! hashed on the way; a finished upload is renamed to its digest, so a file published
//! twice is stored once. Or in an S3-compatible bucket (`--artifacts s3://bucket/prefix`,
//! module `s3`), behind the same methods: uploads still arrive as a local partial file and
//! go to the bucket once they check. Also the URL signatures: an HMAC-SHA256 over what
//! the URL may do, for the SDKs that fetch without an Authorization header.

use std::fs::{self, File, OpenOptions};
use std::future::Future as _;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub mod carry;
pub mod push;
pub mod s3;
mod turns;

use actix_web::web::Bytes;
use dashmap::DashMap;
use futures_core::Stream;
use sha2::{Digest, Sha256};

use crate::domain::quoted;
use crate::error::ApiError;

/// Where artifacts' bytes live, and the hashing state of the uploads in progress.
#[derive(Clone)]
pub struct Artifacts {
    inner: Arc<Inner>,
}

struct Inner {
    /// The files, and the partial uploads; with an S3 store only the partial uploads.
    root: PathBuf,
    /// The bucket the files are in, when `--artifacts` names one.
    s3: Option<s3::S3>,
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
    /// The object store failed (unreachable, denied): its message.
    #[error("the artifact store {store} failed: {message}")]
    Unavailable { store: String, message: String },
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

/// Bytes read from a stored file per chunk of a response body.
const READ_BYTES: usize = 256 * 1024;

/// Why a stored file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No file of that digest in storage: the database and the store disagree.
    #[error("{0}")]
    Missing(String),
    /// The object store failed (unreachable, denied): its message.
    #[error("{0}")]
    Unavailable(String),
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> ApiError {
        match e {
            ReadError::Missing(m) => ApiError::Internal(m),
            ReadError::Unavailable(message) => ApiError::ServiceUnavailable {
                message,
                cause: None,
            },
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        match e {
            StorageError::DiskFull => ApiError::InsufficientStorage(
                "the server's artifact storage is full; the upload was removed, retry when an \
                 operator has freed space"
                    .to_owned(),
            ),
            StorageError::Io(e) => ApiError::Internal(format!("writing an upload: {e}")),
            e @ StorageError::Unavailable { .. } => ApiError::ServiceUnavailable {
                message: format!("{e}; the upload is kept, retry"),
                cause: None,
            },
        }
    }
}

/// A stored file's bytes, a chunk at a time, for a response body. After each chunk the
/// stream waits for its turn on the worker before it gives the next (module `turns`), so
/// downloads never hold up the requests answered by the same worker.
pub struct ByteStream {
    chunks: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>,
    /// Set after a chunk was given: the turn to wait for before the next.
    turn: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Stream for ByteStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(turn) = self.turn.as_mut() {
            // the worker's turn-giver never drops a waiting turn, and a worker that stops
            // drops this stream too: an error here only ends the wait
            let _ = std::task::ready!(Pin::new(turn).poll(cx));
            self.turn = None;
        }
        let next = std::task::ready!(self.chunks.poll_recv(cx));
        if next.is_some() {
            self.turn = Some(turns::wait());
        }
        Poll::Ready(next)
    }
}

impl ByteStream {
    /// The stream of the chunks `chunks` receives.
    pub(super) fn new(chunks: tokio::sync::mpsc::Receiver<Result<Bytes, io::Error>>) -> ByteStream {
        ByteStream { chunks, turn: None }
    }

    /// A stream that ends at once (the body of a HEAD, whose length is declared apart).
    pub fn empty() -> ByteStream {
        ByteStream::new(tokio::sync::mpsc::channel(1).1)
    }
}

/// A blocking reader over a [`ByteStream`] (for the manifest's chunk digests).
struct StreamReader {
    stream: ByteStream,
    current: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.stream.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl Artifacts {
    /// The storage `--artifacts` names for database `db`: a bucket `s3://bucket/prefix`
    /// (its partial uploads in a directory beside the database, or a temporary one), a
    /// directory, or by default the directory beside the database (a temporary one for an
    /// in-memory database). The error names `--artifacts` and why.
    pub fn open_location(location: Option<&Path>, db: &str) -> Result<Artifacts, String> {
        let local = |dir: Option<&Path>| match dir {
            Some(dir) => Self::in_directory(dir).map_err(|e| {
                format!(
                    "--artifacts {}: the directory cannot be used: {e}",
                    dir.display()
                )
            }),
            None if db == crate::store::MEMORY => Self::temporary()
                .map_err(|e| format!("the temporary artifact directory cannot be made: {e}")),
            None => {
                let dir = Self::default_directory(db);
                Self::in_directory(&dir).map_err(|e| {
                    format!(
                        "--artifacts (by default {}): the directory cannot be used: {e}",
                        dir.display()
                    )
                })
            }
        };
        match location.map(|l| l.to_string_lossy().into_owned()) {
            Some(url) if s3::is_s3(&url) => {
                let bucket = s3::S3::open(&url)?;
                let mut staging = local(None)?;
                Arc::get_mut(&mut staging.inner)
                    .expect("a store just opened has one owner")
                    .s3 = Some(bucket);
                Ok(staging)
            }
            _ => local(location),
        }
    }

    /// Where the files are, for an operator: the directory, or `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        match &self.inner.s3 {
            Some(bucket) => bucket.name(),
            None => self.inner.root.display().to_string(),
        }
    }

    /// Whether the files are in an S3 bucket (shared by every instance) rather than a
    /// local directory.
    pub fn is_s3(&self) -> bool {
        self.inner.s3.is_some()
    }

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
                s3: None,
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

    /// The directory the files are in (with an S3 store, the partial uploads only).
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn partial(&self, upload_id: &str) -> PathBuf {
        self.inner.root.join("partial").join(upload_id)
    }

    /// Where the file of digest `sha256` is stored in the directory.
    fn blob(&self, sha256: &str) -> PathBuf {
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

    /// Moves upload `upload_id`'s bytes, of digest `sha256`, to the digest's place (in
    /// the bucket: a multipart put, then the partial file is removed; when the bucket
    /// fails the partial file is kept for a retry): a file stored already is kept once.
    /// Blocking.
    pub fn store_upload(&self, upload_id: &str, sha256: &str) -> Result<(), StorageError> {
        let path = self.partial(upload_id);
        if let Some(bucket) = &self.inner.s3 {
            bucket
                .put_file(&path, sha256)
                .map_err(|e| StorageError::Unavailable {
                    store: bucket.name(),
                    message: e.to_string(),
                })?;
            fs::remove_file(&path)?;
            self.inner.hashing.remove(upload_id);
            return Ok(());
        }
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

    /// Bytes `start..start+len` of the file of digest `sha256` (from the disk on a
    /// blocking thread, or from the bucket by a ranged get, so a part never reads the
    /// whole file), a chunk at a time; `count` is called with each chunk's bytes as it is
    /// sent on. The file's absence or the store's failure is the error, before any byte.
    pub async fn read(
        &self,
        sha256: &str,
        start: u64,
        len: u64,
        count: Box<dyn Fn(u64) + Send>,
    ) -> Result<ByteStream, ReadError> {
        if let Some(bucket) = &self.inner.s3 {
            let (opened, stream) = bucket.open_read(sha256, start, len, count);
            s3::opened(opened.await).map_err(|e| read_error(bucket, sha256, e))?;
            return Ok(stream);
        }
        let blob = self.blob(sha256);
        let opened = File::open(&blob).map_err(|e| {
            ReadError::Missing(format!(
                "hosted file {} is missing from storage: {e}",
                blob.display()
            ))
        })?;
        // one chunk ahead: the page cache answers faster than a socket takes a chunk, and a
        // hundred downloads at once hold a few hundred KiB each
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        actix_web::rt::task::spawn_blocking(move || send_file(opened, start, len, tx, &*count));
        Ok(ByteStream::new(rx))
    }

    /// The whole file of digest `sha256`, as a blocking reader: for a blocking thread.
    pub fn reader(&self, sha256: &str, size: u64) -> io::Result<Box<dyn Read + Send>> {
        if let Some(bucket) = &self.inner.s3 {
            let (opened, stream) = bucket.open_read(sha256, 0, size, Box::new(|_| {}));
            s3::opened(opened.blocking_recv()).map_err(|e| {
                match read_error(bucket, sha256, e) {
                    ReadError::Missing(m) => io::Error::new(io::ErrorKind::NotFound, m),
                    ReadError::Unavailable(m) => io::Error::other(m),
                }
            })?;
            return Ok(Box::new(StreamReader {
                stream,
                current: Bytes::new(),
            }));
        }
        Ok(Box::new(File::open(self.blob(sha256))?))
    }

    /// Removes the stored file of digest `sha256`, if any; returns the bytes freed.
    /// Blocking.
    pub fn remove_blob(&self, sha256: &str) -> u64 {
        if let Some(bucket) = &self.inner.s3 {
            return bucket.remove(sha256);
        }
        let path = self.blob(sha256);
        match fs::metadata(&path) {
            Ok(meta) if fs::remove_file(&path).is_ok() => meta.len(),
            _ => 0,
        }
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
        if let Some(bucket) = &self.inner.s3 {
            return freed + bucket.reclaim(in_use);
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
        .map_err(ApiError::from)?;
    let id = upload_id.to_owned();
    let size = received.size as i64;
    db.write(move |tx| crate::store::artifacts::finish_upload(tx, &id, size, &received.sha256))
        .await?;
    Ok(())
}

/// A failed read from `bucket`, as the download's answer says it.
fn read_error(bucket: &s3::S3, sha256: &str, e: s3::S3Error) -> ReadError {
    match e {
        s3::S3Error::NotFound(m) => ReadError::Missing(format!(
            "hosted file {sha256} is missing from {}: {m}",
            bucket.name()
        )),
        s3::S3Error::Unavailable(m) => ReadError::Unavailable(format!(
            "the artifact store {} failed: {m}; retry",
            bucket.name()
        )),
    }
}

/// Reads `len` bytes of `file` from `start` into `tx`, a chunk at a time; stops when the
/// client goes away.
fn send_file(
    mut file: File,
    start: u64,
    len: u64,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>,
    count: &dyn Fn(u64),
) {
    if let Err(e) = file.seek(SeekFrom::Start(start)) {
        let _ = tx.blocking_send(Err(e));
        return;
    }
    let mut left = len;
    while left > 0 {
        let n = left.min(READ_BYTES as u64) as usize;
        // read_to_end fills the spare capacity as it is: no zeroing of each chunk first
        let mut buf = Vec::with_capacity(n);
        let read = (&mut file).take(n as u64).read_to_end(&mut buf);
        let read = read.and_then(|got| {
            if got == n {
                Ok(())
            } else {
                Err(io::Error::from(io::ErrorKind::UnexpectedEof))
            }
        });
        if let Err(e) = read {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return;
        }
        count(n as u64);
        left -= n as u64;
    }
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
