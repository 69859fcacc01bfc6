//! The S3-compatible object store behind `--artifacts s3://bucket/prefix` (issue 26), for
//! several instances on PostgreSQL sharing one store. Files are objects
//! `PREFIX/blobs/AB/SHA256`; an upload in progress stays a local partial file (hashed on
//! the way, resumable at an offset, as in the directory store) and is sent to the bucket
//! as a multipart put only once its size and digest check, so the bucket never holds a
//! file that is not what its key says.
//!
//! All S3 traffic runs on one runtime thread of its own: callers on blocking threads (the
//! upload's finish, `devreg model push`) wait for it, and a download's bytes arrive through
//! a channel, so no actix worker drives an S3 connection. Credentials come from the usual
//! `AWS_*` environment variables (`AWS_ENDPOINT_URL` for an S3-compatible server) and are
//! never logged: the store is named by its bucket and prefix only.

use std::future::Future;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, RetryConfig, WriteMultipart,
};

/// Bytes per part of a multipart put (S3's smallest part is 5 MiB).
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts in flight at once: a finish holds at most this many parts, plus one being filled.
const PARTS_IN_FLIGHT: usize = 2;
/// How long one request (or one chunk of a download) may take before the store is
/// called unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An S3 bucket and the prefix devreg's objects live under.
pub(super) struct S3 {
    store: AmazonS3,
    bucket: String,
    prefix: String,
    runtime: tokio::runtime::Handle,
}

/// What went wrong talking to the bucket.
#[derive(Debug)]
pub enum S3Error {
    NotFound(String),
    Unavailable(String),
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            S3Error::NotFound(m) | S3Error::Unavailable(m) => f.write_str(m),
        }
    }
}

impl S3Error {
    fn of(e: object_store::Error) -> S3Error {
        match e {
            object_store::Error::NotFound { path, .. } => {
                S3Error::NotFound(format!("no object {path} in the bucket"))
            }
            other => S3Error::Unavailable(other.to_string()),
        }
    }
}

impl From<S3Error> for std::io::Error {
    fn from(e: S3Error) -> std::io::Error {
        match e {
            S3Error::NotFound(m) => std::io::Error::new(std::io::ErrorKind::NotFound, m),
            S3Error::Unavailable(m) => std::io::Error::other(m),
        }
    }
}

/// Answers once a read's get did: `Ok` and the bytes follow, or why not.
pub(super) type Opened = tokio::sync::oneshot::Receiver<Result<(), S3Error>>;

/// What an [`Opened`] answered, or that the runtime stopped before it did.
pub(super) fn opened(
    answer: Result<Result<(), S3Error>, tokio::sync::oneshot::error::RecvError>,
) -> Result<(), S3Error> {
    answer.unwrap_or_else(|_| Err(S3Error::Unavailable("the S3 runtime stopped".to_owned())))
}

/// Whether `location` names an S3 bucket rather than a directory.
pub fn is_s3(location: &str) -> bool {
    location.starts_with("s3://")
}

/// Whether an endpoint URL's host is this machine, where plain http is allowed.
fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .unwrap_or(endpoint);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl S3 {
    /// Opens `s3://bucket/prefix` with the environment's credentials and checks that the
    /// bucket answers (a listing under the prefix), so a misconfigured store stops the
    /// start instead of the first upload.
    pub(super) fn open(location: &str) -> Result<S3, String> {
        let rest = location.strip_prefix("s3://").unwrap_or(location);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "--artifacts {location}: name a bucket, as s3://BUCKET/PREFIX"
            ));
        }
        let prefix = prefix.trim_matches('/').to_owned();
        let endpoint = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    // A download streams for as long as its client reads; each request and
                    // each chunk gets REQUEST_TIMEOUT here instead.
                    .with_timeout_disabled(),
            );
        if let Some(endpoint) = &endpoint {
            builder = builder.with_endpoint(endpoint);
            if endpoint.starts_with("http://") {
                if !is_loopback(endpoint) {
                    return Err(format!(
                        "--artifacts {location}: the endpoint in AWS_ENDPOINT_URL uses plain \
                         http on another host; use https (plain http is allowed only on a \
                         loopback address)"
                    ));
                }
                builder = builder.with_allow_http(true);
            }
        }
        let store = builder
            .build()
            .map_err(|e| format!("--artifacts {location}: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("--artifacts {location}: cannot start its runtime: {e}"))?;
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("devreg-s3".to_owned())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .map_err(|e| format!("--artifacts {location}: cannot start its thread: {e}"))?;
        let s3 = S3 {
            store,
            bucket: bucket.to_owned(),
            prefix,
            runtime: handle,
        };
        let probe = s3.store.clone();
        let under = s3.key("blobs");
        s3.run(async move {
            probe
                .list_with_delimiter(Some(&under))
                .await
                .map(|_| ())
                .map_err(S3Error::of)
        })
        .map_err(|e| {
            format!("--artifacts {location}: the bucket does not answer a listing: {e}")
        })?;
        Ok(s3)
    }

    /// `s3://bucket/prefix`, for messages.
    pub(super) fn name(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    fn key(&self, rest: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(rest)
        } else {
            Key::from(format!("{}/{rest}", self.prefix))
        }
    }

    fn blob(&self, sha256: &str) -> Key {
        let prefix = sha256.get(..2).unwrap_or("00");
        self.key(&format!("blobs/{prefix}/{sha256}"))
    }

    /// Runs `fut` on the store's runtime under [`REQUEST_TIMEOUT`] and waits for it: from
    /// a blocking thread, or briefly at the start.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, S3Error>> + Send + 'static,
    ) -> Result<T, S3Error> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let result = match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
                Ok(result) => result,
                Err(_) => Err(S3Error::Unavailable(format!(
                    "the object store did not answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ))),
            };
            let _ = tx.send(result);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(S3Error::Unavailable("the S3 runtime stopped".to_owned())))
    }

    /// The size of the file of digest `sha256`, or `None` when it is not stored. Blocking.
    pub(super) fn size(&self, sha256: &str) -> Result<Option<u64>, S3Error> {
        let (store, key) = (self.store.clone(), self.blob(sha256));
        self.run(async move {
            match store.head(&key).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(S3Error::of(e)),
            }
        })
    }

    /// Stores `file`'s bytes (a finished upload's, of digest `sha256`) under the digest's
    /// key by a multipart put, reading [`PART_BYTES`] at a time on the calling thread; a
    /// file stored already is kept once. Blocking.
    pub(super) fn put_file(&self, file: &std::path::Path, sha256: &str) -> Result<(), S3Error> {
        if self.size(sha256)?.is_some() {
            return Ok(());
        }
        let mut source = std::fs::File::open(file)
            .map_err(|e| S3Error::Unavailable(format!("cannot read the upload's file: {e}")))?;
        let (store, key) = (self.store.clone(), self.blob(sha256));
        let upload =
            self.run(async move { store.put_multipart(&key).await.map_err(S3Error::of) })?;
        let mut writer = Some(WriteMultipart::new_with_chunk_size(upload, PART_BYTES));
        let mut buffer = vec![0u8; PART_BYTES];
        let failed = loop {
            let n = match read_full(&mut source, &mut buffer) {
                Ok(n) => n,
                Err(e) => {
                    break Some(S3Error::Unavailable(format!(
                        "cannot read the upload's file: {e}"
                    )));
                }
            };
            if n == 0 {
                break None;
            }
            let mut w = writer
                .take()
                .expect("the writer is put back after each part");
            let part = buffer[..n].to_vec();
            match self.run(async move {
                w.write(&part);
                Ok(match w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    Ok(()) => Part::Sent(w),
                    Err(e) => Part::Failed(w, S3Error::of(e)),
                })
            })? {
                Part::Sent(w) => writer = Some(w),
                Part::Failed(w, e) => {
                    writer = Some(w);
                    break Some(e);
                }
            }
        };
        let w = writer
            .take()
            .expect("the writer is put back after each part");
        match failed {
            None => self.run(async move { w.finish().await.map(|_| ()).map_err(S3Error::of) }),
            Some(e) => {
                let _ = self.run(async move { w.abort().await.map_err(S3Error::of) });
                Err(e)
            }
        }
    }

    /// Bytes `start..start+len` of the file of digest `sha256`, as a stream of chunks fed
    /// from the store's runtime by a ranged get; the receiver answers once the get did
    /// (the object's absence or the store's failure, before any byte). `count` is called
    /// with each chunk's bytes as it is sent on.
    pub(super) fn open_read(
        &self,
        sha256: &str,
        start: u64,
        len: u64,
        count: Box<dyn Fn(u64) + Send>,
    ) -> (Opened, super::ByteStream) {
        let (store, key) = (self.store.clone(), self.blob(sha256));
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        self.runtime.spawn(async move {
            let options = GetOptions {
                range: (len > 0).then_some(GetRange::Bounded(start..start + len)),
                ..GetOptions::default()
            };
            let got =
                match tokio::time::timeout(REQUEST_TIMEOUT, store.get_opts(&key, options)).await {
                    Ok(answer) => answer.map_err(S3Error::of),
                    Err(_) => Err(S3Error::Unavailable(format!(
                        "the object store did not answer within {} s",
                        REQUEST_TIMEOUT.as_secs()
                    ))),
                };
            let mut stream = match got {
                Ok(result) => {
                    let _ = opened_tx.send(Ok(()));
                    result.into_stream()
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            loop {
                let next = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx));
                let chunk = match tokio::time::timeout(REQUEST_TIMEOUT, next).await {
                    Ok(Some(Ok(bytes))) => Ok(bytes),
                    Ok(Some(Err(e))) => Err(std::io::Error::other(e.to_string())),
                    Ok(None) => return,
                    Err(_) => Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the object store stalled",
                    )),
                };
                let n = chunk.as_ref().map_or(0, |b| b.len() as u64);
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
                count(n);
            }
        });
        (opened_rx, super::ByteStream::new(rx))
    }

    /// Deletes the object of digest `sha256`, if stored; returns the bytes freed. Blocking.
    pub(super) fn remove(&self, sha256: &str) -> u64 {
        let Ok(Some(size)) = self.size(sha256) else {
            return 0;
        };
        let (store, key) = (self.store.clone(), self.blob(sha256));
        match self.run(async move { store.delete(&key).await.map_err(S3Error::of) }) {
            Ok(()) => size,
            Err(_) => 0,
        }
    }

    /// Deletes every object under `blobs/` whose digest `in_use` does not name; returns
    /// the bytes freed. Blocking.
    pub(super) fn reclaim(&self, in_use: &std::collections::HashSet<String>) -> u64 {
        let (store, under) = (self.store.clone(), self.key("blobs"));
        let listed = self.run(async move {
            let mut stream = store.list(Some(&under));
            let mut found = Vec::new();
            while let Some(meta) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                found.push(meta.map_err(S3Error::of)?);
            }
            Ok(found)
        });
        let Ok(listed) = listed else { return 0 };
        let mut freed = 0;
        for meta in listed {
            let unused = meta
                .location
                .filename()
                .is_some_and(|name| !in_use.contains(name));
            if unused {
                let store = self.store.clone();
                let key = meta.location.clone();
                if self
                    .run(async move { store.delete(&key).await.map_err(S3Error::of) })
                    .is_ok()
                {
                    freed += meta.size;
                }
            }
        }
        freed
    }
}

/// A part handed to a multipart put: the writer back, with why the put failed if it did.
enum Part {
    Sent(WriteMultipart),
    Failed(WriteMultipart, S3Error),
}

/// Reads into `buffer` until it is full or the file ends; answers the bytes read.
fn read_full(source: &mut impl std::io::Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_endpoints_count_as_loopback() {
        for local in [
            "http://127.0.0.1:9000",
            "http://localhost:5000/",
            "http://[::1]:9000",
            "http://127.0.0.2",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "http://s3.example.com",
            "http://10.0.0.1:9000",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com:80",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }
}
