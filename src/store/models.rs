//! Models and their versions: the artifact manifests deployments name. devreg stores the
//! manifest (where the file is, its size and digest), never the file.

use serde_json::value::RawValue;

use super::{Conn, Row, StoreError};
use crate::domain::Timestamp;

/// A model of an org, with its versions oldest first.
#[derive(Debug)]
pub struct Model {
    pub model_id: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
    pub versions: Vec<ModelVersion>,
}

/// One version's artifact manifest.
#[derive(Debug, Clone)]
pub struct ModelVersion {
    pub model_id: String,
    pub version: String,
    pub artifact_id: String,
    pub format: String,
    pub total_bytes: i64,
    pub sha256: String,
    pub download_url: String,
    /// A JSON array of `{path, size, sha256}`.
    pub files: Box<RawValue>,
    pub created_at: Timestamp,
}

const VERSION_COLUMNS: &str =
    "model_id, version, artifact_id, format, total_bytes, sha256, download_url, files, created_at";

fn version_from_row(row: &Row<'_>) -> Result<ModelVersion, StoreError> {
    Ok(ModelVersion {
        model_id: row.get(0)?,
        version: row.get(1)?,
        artifact_id: row.get(2)?,
        format: row.get(3)?,
        total_bytes: row.get(4)?,
        sha256: row.get(5)?,
        download_url: row.get(6)?,
        files: row.json(7)?,
        created_at: row.get(8)?,
    })
}

/// Why a model or version was not added.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("org {org_id} already has a model {model_id:?}")]
    ModelExists { org_id: String, model_id: String },
    #[error("no model {model_id:?} in org {org_id}")]
    NoModel { org_id: String, model_id: String },
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

/// A model to add.
#[derive(Debug)]
pub struct NewModel<'a> {
    pub model_id: &'a str,
    /// For people.
    pub name: Option<&'a str>,
}

/// The add-a-model operation: model `new` in `org_id`, refused when the org has a model
/// of that id.
pub fn create(
    conn: &Conn,
    org_id: &str,
    new: &NewModel<'_>,
    now: Timestamp,
) -> Result<Model, Refusal> {
    insert_model(conn, org_id, new.model_id, new.name, now).map_err(|e| match e {
        StoreError::Duplicate => Refusal::ModelExists {
            org_id: org_id.to_owned(),
            model_id: new.model_id.to_owned(),
        },
        other => other.into(),
    })
}

/// The add-a-version operation: version `new` of a model of `org_id`, refused when the
/// org has no such model or the model has that version.
pub fn add_version(
    conn: &Conn,
    org_id: &str,
    new: &NewVersion<'_>,
    now: Timestamp,
) -> Result<ModelVersion, Refusal> {
    match insert_version(conn, org_id, new, now) {
        Ok(Some(version)) => Ok(version),
        Ok(None) => Err(Refusal::NoModel {
            org_id: org_id.to_owned(),
            model_id: new.model_id.to_owned(),
        }),
        Err(StoreError::Duplicate) => Err(Refusal::VersionExists {
            model_id: new.model_id.to_owned(),
            version: new.version.to_owned(),
        }),
        Err(other) => Err(other.into()),
    }
}

/// Adds model `model_id` to `org_id`: [`StoreError::Duplicate`] when the org has it.
pub fn insert_model(
    conn: &Conn,
    org_id: &str,
    model_id: &str,
    name: Option<&str>,
    now: Timestamp,
) -> Result<Model, StoreError> {
    conn.execute(
        "INSERT INTO models (org_id, model_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        &[&org_id, &model_id, &name, &now],
    )?;
    Ok(Model {
        model_id: model_id.to_owned(),
        name: name.map(str::to_owned),
        created_at: now,
        versions: Vec::new(),
    })
}

/// Whether `org_id` has model `model_id`.
pub fn exists(conn: &Conn, org_id: &str, model_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT 1 FROM models WHERE org_id = ?1 AND model_id = ?2",
            &[&org_id, &model_id],
            |_| Ok(()),
        )?
        .is_some())
}

/// A version to add: its manifest.
pub struct NewVersion<'a> {
    pub model_id: &'a str,
    pub version: &'a str,
    pub format: &'a str,
    pub total_bytes: i64,
    pub sha256: &'a str,
    pub download_url: &'a str,
    /// A JSON array, as text.
    pub files_json: &'a str,
}

/// Adds a version to a model of `org_id`. `Ok(None)` when the org has no such model;
/// [`StoreError::Duplicate`] when the model has the version already.
pub fn insert_version(
    conn: &Conn,
    org_id: &str,
    new: &NewVersion<'_>,
    now: Timestamp,
) -> Result<Option<ModelVersion>, StoreError> {
    if !exists(conn, org_id, new.model_id)? {
        return Ok(None);
    }
    let artifact_id = format!("art_{}", uuid::Uuid::now_v7().simple());
    let version = conn.query_row(
        &format!(
            "INSERT INTO model_versions (org_id, model_id, version, artifact_id, format, \
             total_bytes, sha256, download_url, files, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING {VERSION_COLUMNS}"
        ),
        &[
            &org_id,
            &new.model_id,
            &new.version,
            &artifact_id,
            &new.format,
            &new.total_bytes,
            &new.sha256,
            &new.download_url,
            &new.files_json,
            &now,
        ],
        version_from_row,
    )?;
    Ok(Some(version))
}

/// One version of a model of `org_id`.
pub fn find_version(
    conn: &Conn,
    org_id: &str,
    model_id: &str,
    version: &str,
) -> Result<Option<ModelVersion>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions \
             WHERE org_id = ?1 AND model_id = ?2 AND version = ?3"
        ),
        &[&org_id, &model_id, &version],
        version_from_row,
    )
}

/// Every model of `org_id` with its versions, models by id, versions oldest first.
pub fn list(conn: &Conn, org_id: &str) -> Result<Vec<Model>, StoreError> {
    let mut models: Vec<Model> = conn.query_all(
        "SELECT model_id, name, created_at FROM models WHERE org_id = ?1 ORDER BY model_id",
        &[&org_id],
        |row| {
            Ok(Model {
                model_id: row.get(0)?,
                name: row.get(1)?,
                created_at: row.get(2)?,
                versions: Vec::new(),
            })
        },
    )?;
    let versions: Vec<ModelVersion> = conn.query_all(
        &format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions WHERE org_id = ?1 \
             ORDER BY model_id, created_at, version"
        ),
        &[&org_id],
        version_from_row,
    )?;
    for version in versions {
        if let Some(model) = models.iter_mut().find(|m| m.model_id == version.model_id) {
            model.versions.push(version);
        }
    }
    Ok(models)
}

/// Deletes an org's deployments, model versions and models: an ephemeral server's reset.
pub fn delete_org(conn: &Conn, org_id: &str) -> Result<(), StoreError> {
    for table in ["deployments", "model_versions", "models"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE org_id = ?1"),
            &[&org_id],
        )?;
    }
    Ok(())
}
