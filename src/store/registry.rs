//! The registry the SDKs read: a model and its versions by the model's id or its name,
//! the version a device should run, and deleting a version or a model.
//!
//! Every answer that carries a version's download URL takes it from [`download_url`], the
//! one place that decides where a device fetches a version from.

use serde_json::json;

use super::acting::{self, NotActing};
use super::deployments;
use super::events::{self, NewEvent};
use super::models::ModelVersion;
use super::{Conn, StoreError};
use crate::domain::{Acting, Timestamp, quoted};

/// A model with what the registry answers about it besides its own row.
#[derive(Debug)]
pub struct ModelSummary {
    pub model_id: String,
    pub name: Option<String>,
    pub created_at: Timestamp,
    /// When its newest version was added; its own `created_at` without versions.
    pub updated_at: Timestamp,
    pub version_count: i64,
    /// The newest version's format, if it has a version.
    pub latest_format: Option<String>,
}

/// Why a registry read or deletion was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Neither a model id nor a model name of the org.
    #[error("no model {} in org {org_id}", quoted(.reference))]
    NoModel { org_id: String, reference: String },
    /// A name several models of the org carry, and none has it as its id.
    #[error("{} is the name of {count} models of org {org_id}", quoted(.reference))]
    AmbiguousName {
        org_id: String,
        reference: String,
        count: i64,
    },
    /// The model has no version of that name (or no version at all, for `latest`).
    #[error("model {} has no version {}", quoted(.model_id), quoted(.version))]
    NoVersion { model_id: String, version: String },
    /// A version asked for in a format it does not have.
    #[error("model {} version {} is {have}, not {wanted}", quoted(.model_id), quoted(.version))]
    NoFormat {
        model_id: String,
        version: String,
        have: String,
        wanted: String,
    },
    /// The device already runs the version it would be offered.
    #[error("model {} has no update for version {}", quoted(.model_id), quoted(.current))]
    UpToDate { model_id: String, current: String },
    /// A deletion refused while active deployments use what it would delete: their ids.
    #[error("model {} is deployed by {deployments:?}", quoted(.model_id))]
    InUse {
        model_id: String,
        version: Option<String>,
        deployments: Vec<String>,
    },
    #[error(transparent)]
    NotActing(#[from] NotActing),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        match self {
            Refusal::Store(e) => e.is_database_failure(),
            Refusal::NotActing(NotActing::Store(e)) => e.is_database_failure(),
            _ => false,
        }
    }
}

/// Newest first: the version added last (within one second, the later artifact id, which
/// grows with time).
const NEWEST_FIRST: &str = "created_at DESC, artifact_id DESC";

const VERSION_COLUMNS: &str =
    "model_id, version, artifact_id, format, total_bytes, sha256, download_url, files, created_at";

fn version_from_row(row: &super::Row<'_>) -> Result<ModelVersion, StoreError> {
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

/// Where a device downloads `version` from: the one place every registry answer takes a
/// download URL from (today the manifest's `download_url`, as the operator gave it).
pub fn download_url(version: &ModelVersion) -> String {
    version.download_url.clone()
}

/// The model of `org_id` that `reference` names: the model whose id it is, else the one
/// model whose name it is.
pub fn find_model(conn: &Conn, org_id: &str, reference: &str) -> Result<ModelSummary, Refusal> {
    let by_id = conn.query_opt(
        "SELECT model_id FROM models WHERE org_id = ?1 AND model_id = ?2",
        &[&org_id, &reference],
        |row| row.get::<String>(0),
    )?;
    let model_id = match by_id {
        Some(id) => id,
        None => {
            let named: Vec<String> = conn.query_all(
                "SELECT model_id FROM models WHERE org_id = ?1 AND name = ?2 ORDER BY model_id",
                &[&org_id, &reference],
                |row| row.get(0),
            )?;
            match named.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(Refusal::NoModel {
                        org_id: org_id.to_owned(),
                        reference: reference.to_owned(),
                    });
                }
                many => {
                    return Err(Refusal::AmbiguousName {
                        org_id: org_id.to_owned(),
                        reference: reference.to_owned(),
                        count: many.len() as i64,
                    });
                }
            }
        }
    };
    let summary = conn.query_row(
        &format!(
            "SELECT m.model_id, m.name, m.created_at,
                (SELECT count(*) FROM model_versions AS v
                    WHERE v.org_id = m.org_id AND v.model_id = m.model_id),
                (SELECT max(v.created_at) FROM model_versions AS v
                    WHERE v.org_id = m.org_id AND v.model_id = m.model_id),
                (SELECT v.format FROM model_versions AS v
                    WHERE v.org_id = m.org_id AND v.model_id = m.model_id
                    ORDER BY {NEWEST_FIRST} LIMIT 1)
             FROM models AS m WHERE m.org_id = ?1 AND m.model_id = ?2"
        ),
        &[&org_id, &model_id],
        |row| {
            let created_at: Timestamp = row.get(2)?;
            let newest: Option<Timestamp> = row.get(4)?;
            Ok(ModelSummary {
                model_id: row.get(0)?,
                name: row.get(1)?,
                created_at,
                updated_at: newest.unwrap_or(created_at),
                version_count: row.get(3)?,
                latest_format: row.get(5)?,
            })
        },
    )?;
    Ok(summary)
}

/// A page of a model's versions, newest first, and how many it has in all.
#[derive(Debug)]
pub struct VersionPage {
    pub model: ModelSummary,
    pub versions: Vec<Delivery>,
    pub total: i64,
}

/// The model `reference` names and a page of its versions, newest first.
pub fn list_versions(
    conn: &Conn,
    org_id: &str,
    reference: &str,
    limit: u32,
    offset: u64,
) -> Result<VersionPage, Refusal> {
    let model = find_model(conn, org_id, reference)?;
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let versions: Vec<ModelVersion> = conn.query_all(
        &format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions WHERE org_id = ?1 AND model_id = ?2
             ORDER BY {NEWEST_FIRST} LIMIT ?3 OFFSET ?4"
        ),
        &[&org_id, &model.model_id, &i64::from(limit), &offset],
        version_from_row,
    )?;
    let versions = versions.into_iter().map(Delivery::of).collect();
    let total = model.version_count;
    Ok(VersionPage {
        model,
        versions,
        total,
    })
}

/// A version and the URL a device downloads it from ([`download_url`]).
#[derive(Debug)]
pub struct Delivery {
    pub version: ModelVersion,
    pub download_url: String,
}

impl Delivery {
    fn of(version: ModelVersion) -> Delivery {
        let download_url = download_url(&version);
        Delivery {
            version,
            download_url,
        }
    }
}

/// The newest version of model `model_id` of `org_id`, if it has one.
fn newest(conn: &Conn, org_id: &str, model_id: &str) -> Result<Option<ModelVersion>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions WHERE org_id = ?1 AND model_id = ?2
             ORDER BY {NEWEST_FIRST} LIMIT 1"
        ),
        &[&org_id, &model_id],
        version_from_row,
    )
}

/// Version `version` of the model `reference` names (`latest`: its newest, unless it has
/// a version of that name).
pub fn find_version(
    conn: &Conn,
    org_id: &str,
    reference: &str,
    version: &str,
) -> Result<Delivery, Refusal> {
    let model = find_model(conn, org_id, reference)?;
    let exact = conn.query_opt(
        &format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions
             WHERE org_id = ?1 AND model_id = ?2 AND version = ?3"
        ),
        &[&org_id, &model.model_id, &version],
        version_from_row,
    )?;
    let found = match exact {
        Some(v) => Some(v),
        None if version == "latest" => newest(conn, org_id, &model.model_id)?,
        None => None,
    };
    found.map(Delivery::of).ok_or_else(|| Refusal::NoVersion {
        model_id: model.model_id,
        version: version.to_owned(),
    })
}

/// [`find_version`], refused when `format` is given and is not the version's.
pub fn find_version_in(
    conn: &Conn,
    org_id: &str,
    reference: &str,
    version: &str,
    format: Option<&str>,
) -> Result<Delivery, Refusal> {
    let delivery = find_version(conn, org_id, reference, version)?;
    match format {
        Some(wanted) if !wanted.eq_ignore_ascii_case(&delivery.version.format) => {
            Err(Refusal::NoFormat {
                model_id: delivery.version.model_id,
                version: delivery.version.version,
                have: delivery.version.format,
                wanted: wanted.to_owned(),
            })
        }
        _ => Ok(delivery),
    }
}

/// The version a device should run of a model, and why.
#[derive(Debug)]
pub struct Resolved {
    pub delivery: Delivery,
    /// `deployment` when an active deployment targets the device, else `latest`.
    pub source: &'static str,
    /// The deployment it comes from, with its activation policy.
    pub deployment: Option<(String, String)>,
}

/// The version of the model `reference` names that the device `acting` names should run:
/// the version of the newest active deployment whose target matches the device (as its
/// desired state says), else the model's newest version.
pub fn resolve_for_device(
    conn: &Conn,
    acting: &Acting,
    reference: &str,
) -> Result<Resolved, Refusal> {
    let device_id = acting::acting_device_id(conn, acting)?;
    resolve_for(conn, acting.org_id(), Some(&device_id), reference)
}

/// The version of the model `reference` names that a caller should run: the device's
/// deployed version when `device_id` is given and a deployment targets it, else the
/// newest.
pub fn resolve_for(
    conn: &Conn,
    org_id: &str,
    device_id: Option<&str>,
    reference: &str,
) -> Result<Resolved, Refusal> {
    let model = find_model(conn, org_id, reference)?;
    if let Some(device_id) = device_id {
        let desired = deployments::desired_for(conn, device_id)?;
        if let Some((deployment, version)) = desired
            .into_iter()
            .find(|(d, _)| d.model_id == model.model_id)
        {
            return Ok(Resolved {
                delivery: Delivery::of(version),
                source: "deployment",
                deployment: Some((deployment.id, deployment.activation_policy)),
            });
        }
    }
    let version = newest(conn, org_id, &model.model_id)?.ok_or_else(|| Refusal::NoVersion {
        model_id: model.model_id.clone(),
        version: "latest".to_owned(),
    })?;
    Ok(Resolved {
        delivery: Delivery::of(version),
        source: "latest",
        deployment: None,
    })
}

/// The resolve of a named version: `latest` is [`resolve_for`] (the device's deployed
/// version, else the newest), any other version that version, with source `requested`.
pub fn resolve_version(
    conn: &Conn,
    org_id: &str,
    device_id: Option<&str>,
    reference: &str,
    version: &str,
) -> Result<Resolved, Refusal> {
    if version == "latest" {
        return resolve_for(conn, org_id, device_id, reference);
    }
    Ok(Resolved {
        delivery: find_version(conn, org_id, reference, version)?,
        source: "requested",
        deployment: None,
    })
}

/// The update check: what [`resolve_for`] gives, refused as [`Refusal::UpToDate`] when it
/// is `current`.
pub fn update_for(
    conn: &Conn,
    org_id: &str,
    device_id: Option<&str>,
    reference: &str,
    current: &str,
) -> Result<Resolved, Refusal> {
    let resolved = resolve_for(conn, org_id, device_id, reference)?;
    if resolved.delivery.version.version == current {
        return Err(Refusal::UpToDate {
            model_id: resolved.delivery.version.model_id,
            current: current.to_owned(),
        });
    }
    Ok(resolved)
}

/// What a deletion removed. `released_sha256` are the file digests (the manifests' own and
/// their `files[]`) that no version of the org names any more: the artifacts a store of
/// hosted files may reclaim.
#[derive(Debug)]
pub struct Deleted {
    pub model_id: String,
    pub versions: Vec<String>,
    /// Cancelled deployments of the deleted versions, removed with them.
    pub cancelled_deployments: Vec<String>,
    pub released_sha256: Vec<String>,
}

/// The ids of the active deployments of `model_id` (of `version` when given).
fn active_deployments(
    conn: &Conn,
    org_id: &str,
    model_id: &str,
    version: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    conn.query_all(
        "SELECT id FROM deployments WHERE org_id = ?1 AND model_id = ?2
            AND (?3 IS NULL OR version = ?3) AND status = 'active' ORDER BY seq",
        &[&org_id, &model_id, &version],
        |row| row.get(0),
    )
}

/// The digests the manifests of `model_id` (its `version` when given) name.
fn digests(
    conn: &Conn,
    org_id: &str,
    model_id: &str,
    version: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String, String)> = conn.query_all(
        "SELECT sha256, files FROM model_versions WHERE org_id = ?1 AND model_id = ?2
            AND (?3 IS NULL OR version = ?3)",
        &[&org_id, &model_id, &version],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let mut out = Vec::new();
    for (sha256, files) in rows {
        out.push(sha256);
        if let Ok(serde_json::Value::Array(files)) = serde_json::from_str(&files) {
            out.extend(
                files
                    .iter()
                    .filter_map(|f| f["sha256"].as_str().map(str::to_owned)),
            );
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Deletes version `version` of the model `reference` names, or (`None`) the model with
/// all its versions: refused while an active deployment uses what it would delete. The
/// cancelled deployments of what it deletes go with it. Appends `model.version_deleted`
/// per version and, for a model, `model.deleted`.
pub fn delete(
    conn: &Conn,
    org_id: &str,
    reference: &str,
    version: Option<&str>,
    now: Timestamp,
) -> Result<Deleted, Refusal> {
    let model = find_model(conn, org_id, reference)?;
    let model_id = model.model_id.as_str();
    let versions: Vec<String> = match version {
        // Only a version's own name: `latest` deletes nothing it does not name.
        Some(v) => {
            let found = conn.query_opt(
                "SELECT version FROM model_versions
                 WHERE org_id = ?1 AND model_id = ?2 AND version = ?3",
                &[&org_id, &model_id, &v],
                |row| row.get::<String>(0),
            )?;
            vec![found.ok_or_else(|| Refusal::NoVersion {
                model_id: model_id.to_owned(),
                version: v.to_owned(),
            })?]
        }
        None => conn.query_all(
            &format!(
                "SELECT version FROM model_versions WHERE org_id = ?1 AND model_id = ?2
                 ORDER BY {NEWEST_FIRST}"
            ),
            &[&org_id, &model_id],
            |row| row.get(0),
        )?,
    };
    let one = version.map(|_| versions[0].as_str());
    let in_use = active_deployments(conn, org_id, model_id, one)?;
    if !in_use.is_empty() {
        return Err(Refusal::InUse {
            model_id: model_id.to_owned(),
            version: one.map(str::to_owned),
            deployments: in_use,
        });
    }
    let before = digests(conn, org_id, model_id, one)?;
    let cancelled: Vec<String> = conn.query_all(
        "SELECT id FROM deployments WHERE org_id = ?1 AND model_id = ?2
            AND (?3 IS NULL OR version = ?3) ORDER BY seq",
        &[&org_id, &model_id, &one],
        |row| row.get(0),
    )?;
    conn.execute(
        "DELETE FROM deployments WHERE org_id = ?1 AND model_id = ?2
            AND (?3 IS NULL OR version = ?3)",
        &[&org_id, &model_id, &one],
    )?;
    conn.execute(
        "DELETE FROM model_versions WHERE org_id = ?1 AND model_id = ?2
            AND (?3 IS NULL OR version = ?3)",
        &[&org_id, &model_id, &one],
    )?;
    // Their hosted files go with them: no longer served, counted or kept (issue 26).
    conn.execute(
        "DELETE FROM artifact_files WHERE org_id = ?1 AND model_id = ?2
            AND (?3 IS NULL OR version = ?3)",
        &[&org_id, &model_id, &one],
    )?;
    for v in &versions {
        events::append(
            conn,
            &NewEvent {
                org_id,
                kind: "model.version_deleted",
                device_id: None,
                at: now,
                data: &json!({"model_id": model_id, "version": v}),
            },
        )?;
    }
    if version.is_none() {
        conn.execute(
            "DELETE FROM models WHERE org_id = ?1 AND model_id = ?2",
            &[&org_id, &model_id],
        )?;
        events::append(
            conn,
            &NewEvent {
                org_id,
                kind: "model.deleted",
                device_id: None,
                at: now,
                data: &json!({"model_id": model_id, "versions": versions}),
            },
        )?;
    }
    let mut released = Vec::new();
    for sha256 in before {
        let still = conn
            .query_opt(
                "SELECT 1 FROM model_versions WHERE org_id = ?1
                    AND (sha256 = ?2 OR files LIKE ?3) LIMIT 1",
                &[&org_id, &sha256, &format!("%\"{sha256}\"%")],
                |_| Ok(()),
            )?
            .is_some();
        if !still {
            released.push(sha256);
        }
    }
    super::artifact_reclaim::release(conn, &released, now)?;
    Ok(Deleted {
        model_id: model_id.to_owned(),
        versions,
        cancelled_deployments: cancelled,
        released_sha256: released,
    })
}

/// The deployments of the model `reference` names, newest first, each with its rollout
/// counted now: what the console shows beside a model's versions.
pub fn deployments_of(
    conn: &Conn,
    org_id: &str,
    reference: &str,
) -> Result<
    (
        ModelSummary,
        Vec<(deployments::Deployment, deployments::Rollout)>,
    ),
    Refusal,
> {
    let model = find_model(conn, org_id, reference)?;
    let ids: Vec<String> = conn.query_all(
        "SELECT id FROM deployments WHERE org_id = ?1 AND model_id = ?2 ORDER BY seq DESC",
        &[&org_id, &model.model_id],
        |row| row.get(0),
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match deployments::get(conn, org_id, &id) {
            Ok(found) => out.push(found),
            Err(deployments::Refusal::Store(e)) => return Err(e.into()),
            Err(_) => {}
        }
    }
    Ok((model, out))
}
