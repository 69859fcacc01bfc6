//! `devreg model push FILE... --model M --version V`: publishes local files as a hosted
//! version straight into the database and the artifact directory, through the same
//! transaction functions as the upload routes (no server needed, one may be running).

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use super::Artifacts;
use crate::domain::Timestamp;
use crate::store::Db;
use crate::store::artifacts::{self, Publish, PublishedFile};
use crate::store::models::ModelVersion;

/// What to push.
pub struct Push<'a> {
    pub org: &'a str,
    /// The model's id or name; made when the org has neither.
    pub model: &'a str,
    pub version: &'a str,
    /// By default the first file's extension.
    pub format: Option<&'a str>,
    pub files: &'a [PathBuf],
}

/// Publishes `push`'s files as one version, calling `progress` with each chunk's bytes.
/// The version is visible only when every file is stored; a failure leaves it absent.
pub fn push(
    db: &Db,
    store: &Artifacts,
    push: &Push<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<ModelVersion, String> {
    let known = db
        .read_sync(|conn| crate::store::orgs::exists(conn, push.org))
        .map_err(|e| e.to_string())?;
    if !known {
        return Err(format!(
            "no org {:?} in this database; `devreg key list` shows the orgs",
            push.org
        ));
    }
    let now = crate::domain::now();
    let expires = Timestamp(now.0 + 24 * 3600);
    let mut published = Vec::new();
    for path in push.files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{} is not a file", path.display()))?;
        super::check_file_path(&name)?;
        let mut file =
            File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let upload = db
            .write_sync(|tx| artifacts::start_upload(tx, push.org, push.model, &name, now, expires))
            .map_err(|e| e.to_string())?;
        let mut writer = store
            .open_upload(&upload.id, 0)
            .map_err(|_| format!("cannot write into {}", store.root().display()))?;
        let mut buffer = vec![0u8; 1024 * 1024];
        loop {
            let n = file
                .read(&mut buffer)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            if let Err(e) = writer.write(&buffer[..n]) {
                store.discard_upload(&upload.id);
                return Err(format!("cannot store {}: {e}", path.display()));
            }
            progress(n as u64);
        }
        writer.close().map_err(|e| e.to_string())?;
        let received = store.digest_upload(&upload.id).map_err(|e| e.to_string())?;
        store
            .store_upload(&upload.id, &received.sha256)
            .map_err(|e| e.to_string())?;
        db.write_sync(|tx| {
            artifacts::finish_upload(tx, &upload.id, received.size as i64, &received.sha256)
        })
        .map_err(|e| e.to_string())?;
        published.push(PublishedFile {
            upload_id: upload.id,
            path: name,
        });
    }
    let format = push.format.map(str::to_owned).unwrap_or_else(|| {
        published
            .first()
            .and_then(|f| f.path.rsplit_once('.'))
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .unwrap_or_else(|| "bin".to_owned())
    });
    let publish = Publish {
        model_ref: push.model.to_owned(),
        version: push.version.to_owned(),
        format,
        files: published,
    };
    db.write_sync(|tx| artifacts::publish(tx, push.org, &publish, now))
        .map_err(|e| e.to_string())
}
