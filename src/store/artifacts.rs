//! Hosted artifacts' metadata (issue 26): which files a version has (size and SHA-256),
//! the uploads in progress, and the key signed URLs are made with. The bytes themselves
//! are never in a row: `crate::artifacts` keeps them, named by their digest.

use super::{Conn, StoreError};
use crate::domain::Timestamp;

/// One upload: a file on its way into storage, for a model of an org.
#[derive(Debug, Clone)]
pub struct Upload {
    pub id: String,
    pub org_id: String,
    pub model_id: String,
    pub filename: String,
    /// Its size and digest once finished.
    pub finished: Option<(i64, String)>,
    pub expires_at: Timestamp,
}

/// One file of a hosted version.
#[derive(Debug, Clone)]
pub struct HostedFile {
    pub org_id: String,
    pub model_id: String,
    pub version: String,
    pub artifact_id: String,
    pub path: String,
    pub size: i64,
    pub sha256: String,
}

/// Why an upload or a hosted version was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no model {model_id:?} in org {org_id}")]
    NoModel { org_id: String, model_id: String },
    #[error("no upload {0:?}")]
    NoUpload(String),
    #[error("upload {0:?} is not finished")]
    Unfinished(String),
    #[error("upload {0:?} is for another model")]
    OtherModel(String),
    #[error("model {model_id:?} already has a version {version:?}")]
    VersionExists { model_id: String, version: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        matches!(self, Refusal::Store(e) if e.is_database_failure())
    }
}

/// The key every signed URL of this server is made with: made once, at random, and kept
/// in the database so every instance and every restart signs alike.
pub fn signing_key(conn: &Conn, fresh: &str) -> Result<String, StoreError> {
    conn.execute(
        "INSERT INTO artifact_signing_key (id, secret) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
        &[&fresh],
    )?;
    conn.query_row(
        "SELECT secret FROM artifact_signing_key WHERE id = 1",
        &[],
        |row| row.get(0),
    )
}

/// A model's id in `org_id` from its id or its name (the Python SDK's `push` names it);
/// `None` when the org has neither.
pub fn resolve_model(
    conn: &Conn,
    org_id: &str,
    reference: &str,
) -> Result<Option<String>, StoreError> {
    if let Some(id) = conn.query_opt(
        "SELECT model_id FROM models WHERE org_id = ?1 AND model_id = ?2",
        &[&org_id, &reference],
        |row| row.get::<String>(0),
    )? {
        return Ok(Some(id));
    }
    conn.query_opt(
        "SELECT model_id FROM models WHERE org_id = ?1 AND name = ?2 ORDER BY model_id LIMIT 1",
        &[&org_id, &reference],
        |row| row.get::<String>(0),
    )
}

/// Starts an upload of `filename` for model `model_ref` (id or name) of `org_id`.
pub fn start_upload(
    conn: &Conn,
    org_id: &str,
    model_ref: &str,
    filename: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Upload, Refusal> {
    // The Python SDK's `push` names a model that may not exist yet: the hosted platform
    // makes it, so devreg does too, with the name as its id.
    let model_id = match resolve_model(conn, org_id, model_ref)? {
        Some(id) => id,
        None => {
            super::models::insert_model(conn, org_id, model_ref, Some(model_ref), now)?;
            model_ref.to_owned()
        }
    };
    let id = format!("upl_{}", uuid::Uuid::new_v4().simple());
    conn.execute(
        "INSERT INTO artifact_uploads (id, org_id, model_id, filename, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[&id, &org_id, &model_id, &filename, &now, &expires_at],
    )?;
    Ok(Upload {
        id,
        org_id: org_id.to_owned(),
        model_id,
        filename: filename.to_owned(),
        finished: None,
        expires_at,
    })
}

/// The upload `id`, of any org: the upload URL's signature says whose it is.
pub fn find_upload(conn: &Conn, id: &str) -> Result<Option<Upload>, StoreError> {
    conn.query_opt(
        "SELECT id, org_id, model_id, filename, size, sha256, expires_at FROM artifact_uploads \
         WHERE id = ?1",
        &[&id],
        |row| {
            let size: Option<i64> = row.get(4)?;
            let sha256: Option<String> = row.get(5)?;
            Ok(Upload {
                id: row.get(0)?,
                org_id: row.get(1)?,
                model_id: row.get(2)?,
                filename: row.get(3)?,
                finished: size.zip(sha256),
                expires_at: row.get(6)?,
            })
        },
    )
}

/// Records that upload `id` is finished with `size` bytes of digest `sha256`.
pub fn finish_upload(conn: &Conn, id: &str, size: i64, sha256: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE artifact_uploads SET size = ?2, sha256 = ?3 WHERE id = ?1",
        &[&id, &size, &sha256],
    )?;
    Ok(())
}

/// Removes upload `id`.
pub fn delete_upload(conn: &Conn, id: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM artifact_uploads WHERE id = ?1", &[&id])?;
    Ok(())
}

/// A file of a version to publish: a finished upload under a path.
#[derive(Debug, Clone)]
pub struct PublishedFile {
    pub upload_id: String,
    pub path: String,
}

/// A hosted version to publish from finished uploads.
#[derive(Debug, Clone)]
pub struct Publish {
    pub model_ref: String,
    pub version: String,
    pub format: String,
    pub files: Vec<PublishedFile>,
}

/// Publishes a hosted version: its manifest in `model_versions` (the first file's digest
/// and the files' total size) and its files, from uploads that are finished; the uploads
/// are used up. Nothing is written when anything is refused.
pub fn publish(
    conn: &Conn,
    org_id: &str,
    publish: &Publish,
    now: Timestamp,
) -> Result<super::models::ModelVersion, Refusal> {
    let model_id =
        resolve_model(conn, org_id, &publish.model_ref)?.ok_or_else(|| Refusal::NoModel {
            org_id: org_id.to_owned(),
            model_id: publish.model_ref.clone(),
        })?;
    let mut files = Vec::new();
    for file in &publish.files {
        let upload = find_upload(conn, &file.upload_id)?
            .filter(|u| u.org_id == org_id)
            .ok_or_else(|| Refusal::NoUpload(file.upload_id.clone()))?;
        if upload.model_id != model_id {
            return Err(Refusal::OtherModel(file.upload_id.clone()));
        }
        let (size, sha256) = upload
            .finished
            .ok_or_else(|| Refusal::Unfinished(file.upload_id.clone()))?;
        files.push((file, size, sha256));
    }
    let total: i64 = files.iter().map(|(_, size, _)| size).sum();
    let digest = files.first().map(|(_, _, s)| s.clone()).unwrap_or_default();
    let manifest: Vec<serde_json::Value> = files
        .iter()
        .map(
            |(f, size, sha256)| serde_json::json!({"path": f.path, "size": size, "sha256": sha256}),
        )
        .collect();
    let files_json = serde_json::Value::Array(manifest).to_string();
    let new = super::models::NewVersion {
        model_id: &model_id,
        version: &publish.version,
        format: &publish.format,
        total_bytes: total,
        sha256: &digest,
        download_url: "",
        files_json: &files_json,
    };
    let version = match super::models::insert_version(conn, org_id, &new, now) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err(Refusal::NoModel {
                org_id: org_id.to_owned(),
                model_id,
            });
        }
        Err(StoreError::Duplicate) => {
            return Err(Refusal::VersionExists {
                model_id,
                version: publish.version.clone(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    for (file, size, sha256) in &files {
        conn.execute(
            "INSERT INTO artifact_files (org_id, model_id, version, path, size, sha256) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                &org_id,
                &model_id,
                &publish.version,
                &file.path,
                size,
                sha256,
            ],
        )?;
        conn.execute(
            "DELETE FROM artifact_uploads WHERE id = ?1",
            &[&file.upload_id],
        )?;
    }
    Ok(version)
}

const FILE_COLUMNS: &str =
    "f.org_id, f.model_id, f.version, v.artifact_id, f.path, f.size, f.sha256";

fn file_from_row(row: &super::Row<'_>) -> Result<HostedFile, StoreError> {
    Ok(HostedFile {
        org_id: row.get(0)?,
        model_id: row.get(1)?,
        version: row.get(2)?,
        artifact_id: row.get(3)?,
        path: row.get(4)?,
        size: row.get(5)?,
        sha256: row.get(6)?,
    })
}

/// The hosted files of the version whose artifact is `artifact_id`, of any org (the
/// caller checks whose), by path.
pub fn files_of_artifact(conn: &Conn, artifact_id: &str) -> Result<Vec<HostedFile>, StoreError> {
    conn.query_all(
        &format!(
            "SELECT {FILE_COLUMNS} FROM model_versions v JOIN artifact_files f \
             ON f.org_id = v.org_id AND f.model_id = v.model_id AND f.version = v.version \
             WHERE v.artifact_id = ?1 ORDER BY f.path"
        ),
        &[&artifact_id],
        file_from_row,
    )
}

/// The hosted files of version `version` of model `model_id` of `org_id`, by path.
pub fn files_of_version(
    conn: &Conn,
    org_id: &str,
    model_id: &str,
    version: &str,
) -> Result<Vec<HostedFile>, StoreError> {
    conn.query_all(
        &format!(
            "SELECT {FILE_COLUMNS} FROM model_versions v JOIN artifact_files f \
             ON f.org_id = v.org_id AND f.model_id = v.model_id AND f.version = v.version \
             WHERE v.org_id = ?1 AND v.model_id = ?2 AND v.version = ?3 ORDER BY f.path"
        ),
        &[&org_id, &model_id, &version],
        file_from_row,
    )
}

/// The bytes `org_id` stores: its hosted files and its finished uploads not yet
/// published.
pub fn org_bytes(conn: &Conn, org_id: &str) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT CAST(COALESCE((SELECT SUM(size) FROM artifact_files WHERE org_id = ?1), 0) + \
         COALESCE((SELECT SUM(size) FROM artifact_uploads WHERE org_id = ?1), 0) AS BIGINT)",
        &[&org_id],
        |row| row.get(0),
    )
}

/// Whether any hosted file or finished upload has digest `sha256`.
pub fn digest_in_use(conn: &Conn, sha256: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM artifact_files WHERE sha256 = ?1 UNION ALL \
             SELECT 1 FROM artifact_uploads WHERE sha256 = ?1 LIMIT 1",
            &[&sha256],
            |_| Ok(()),
        )?
        .is_some())
}

/// Every digest a hosted file or a finished upload names.
pub fn digests_in_use(conn: &Conn) -> Result<Vec<String>, StoreError> {
    conn.query_all(
        "SELECT sha256 FROM artifact_files UNION SELECT sha256 FROM artifact_uploads \
         WHERE sha256 IS NOT NULL",
        &[],
        |row| row.get(0),
    )
}

/// Bytes stored over every org: for `/metrics`.
pub fn stored_bytes(conn: &Conn) -> Result<i64, StoreError> {
    conn.query_row(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM artifact_files",
        &[],
        |row| row.get(0),
    )
}

/// A version of a model of `org_id` named by id or name, with its hosted files (none
/// for a version whose file is elsewhere).
pub fn find_version(
    conn: &Conn,
    org_id: &str,
    model_ref: &str,
    version: &str,
) -> Result<Option<(super::models::ModelVersion, Vec<HostedFile>)>, StoreError> {
    let Some(model_id) = resolve_model(conn, org_id, model_ref)? else {
        return Ok(None);
    };
    let Some(found) = super::models::find_version(conn, org_id, &model_id, version)? else {
        return Ok(None);
    };
    let files = files_of_version(conn, org_id, &model_id, version)?;
    Ok(Some((found, files)))
}

/// Adds manifest `new` (its file elsewhere) to model `new.model_id`, an id or a name, of
/// `org_id`: the Python SDK's `create_version` with a URL.
pub fn add_manifest(
    conn: &Conn,
    org_id: &str,
    new: &super::models::NewVersion<'_>,
    now: Timestamp,
) -> Result<super::models::ModelVersion, super::models::Refusal> {
    let model_id =
        resolve_model(conn, org_id, new.model_id)?.unwrap_or_else(|| new.model_id.to_owned());
    super::models::add_version(
        conn,
        org_id,
        &super::models::NewVersion {
            model_id: &model_id,
            ..*new
        },
        now,
    )
}
