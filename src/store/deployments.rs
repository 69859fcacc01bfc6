//! Deployments: a model version for the devices a target matches, and their rollout.
//!
//! Which devices a deployment targets is one SQL condition, [`MATCHES`], over a device row
//! `d` and a deployment row `dep`, used both ways: a device's deployments (its desired
//! state) and a deployment's devices (its rollout counts). Labels are read from
//! `device_labels`, whichever branch writes them.

use serde::Serialize;
use serde_json::{Value, json};

use super::StoreError;
use super::events::{self, NewEvent};
use super::models::{self, ModelVersion};
use super::{Conn, Dialect, Row};
use crate::domain::{Timestamp, quoted};

/// All the target's given parts hold; a part not given ('[]' or '{}') holds for every
/// device of the org.
pub const MATCHES: &str = "
    (dep.target_devices = '[]' OR EXISTS (SELECT 1 FROM json_each(dep.target_devices) AS t
        WHERE t.value = d.id OR t.value = d.identifier))
    AND (dep.target_platforms = '[]' OR EXISTS (SELECT 1 FROM json_each(dep.target_platforms) AS t
        WHERE t.value = d.platform))
    AND NOT EXISTS (SELECT 1 FROM json_each(dep.target_labels) AS t
        WHERE NOT EXISTS (SELECT 1 FROM device_labels AS l
            WHERE l.device_id = d.id AND l.key = t.key AND l.value = t.value))";

/// [`MATCHES`] on PostgreSQL: the same rule, with its JSON functions.
pub const MATCHES_PG: &str = "
    (dep.target_devices = '[]' OR EXISTS (
        SELECT 1 FROM json_array_elements_text(dep.target_devices::json) AS t(value)
        WHERE t.value = d.id OR t.value = d.identifier))
    AND (dep.target_platforms = '[]' OR EXISTS (
        SELECT 1 FROM json_array_elements_text(dep.target_platforms::json) AS t(value)
        WHERE t.value = d.platform))
    AND NOT EXISTS (SELECT 1 FROM json_each_text(dep.target_labels::json) AS t
        WHERE NOT EXISTS (SELECT 1 FROM device_labels AS l
            WHERE l.device_id = d.id AND l.key = t.key AND l.value = t.value))";

/// The target rule in `conn`'s dialect.
fn matches(conn: &Conn) -> &'static str {
    match conn.dialect() {
        Dialect::Sqlite => MATCHES,
        Dialect::Postgres => MATCHES_PG,
    }
}

/// A deployment as stored; the target's parts as JSON values.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub org_id: String,
    pub model_id: String,
    pub version: String,
    pub target_devices: Value,
    pub target_platforms: Value,
    pub target_labels: Value,
    pub activation_policy: String,
    pub delivery_mode: String,
    pub status: String,
    pub created_at: Timestamp,
    pub cancelled_at: Option<Timestamp>,
}

const COLUMNS: &str = "dep.id, dep.org_id, dep.model_id, dep.version, dep.target_devices, \
    dep.target_platforms, dep.target_labels, dep.activation_policy, dep.delivery_mode, \
    dep.status, dep.created_at, dep.cancelled_at";

fn from_row(row: &Row<'_>) -> Result<Deployment, StoreError> {
    let json = |i: usize| -> Result<Value, StoreError> {
        let text: String = row.get(i)?;
        serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
                .into()
        })
    };
    Ok(Deployment {
        id: row.get(0)?,
        org_id: row.get(1)?,
        model_id: row.get(2)?,
        version: row.get(3)?,
        target_devices: json(4)?,
        target_platforms: json(5)?,
        target_labels: json(6)?,
        activation_policy: row.get(7)?,
        delivery_mode: row.get(8)?,
        status: row.get(9)?,
        created_at: row.get(10)?,
        cancelled_at: row.get(11)?,
    })
}

/// A deployment to create.
#[derive(Debug)]
pub struct NewDeployment {
    pub model_id: String,
    pub version: String,
    /// Device ids or identifiers; empty: any device.
    pub devices: Vec<String>,
    /// Empty: any platform.
    pub platforms: Vec<String>,
    /// `KEY: VALUE` pairs that must all hold.
    pub labels: serde_json::Map<String, Value>,
    pub activation_policy: String,
    pub delivery_mode: String,
}

/// Why a deployment operation was refused. The sentences of the first two are the API's
/// 404 and the command line's error alike.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "no model {} in org {org_id}; add it first (POST /api/v1/models or `devreg model add`)",
        quoted(.model_id)
    )]
    NoModel { org_id: String, model_id: String },
    #[error(
        "model {} has no version {}; add it first (POST /api/v1/models/{model_id}/versions or \
         `devreg model add`)",
        quoted(.model_id),
        quoted(.version)
    )]
    NoVersion { model_id: String, version: String },
    /// The org has no deployment of that id.
    #[error("no deployment {id:?} in the org")]
    NotFound { id: String },
    #[error("deployment {id} is cancelled already")]
    AlreadyCancelled { id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        matches!(self, Refusal::Store(e) if e.is_database_failure())
    }
}

/// The create operation: a deployment of a version `org_id` has, with its
/// `deployment.created` event, and its rollout counted now.
pub fn create(
    conn: &Conn,
    org_id: &str,
    new: &NewDeployment,
    now: Timestamp,
) -> Result<(Deployment, Rollout), Refusal> {
    if !models::exists(conn, org_id, &new.model_id)? {
        return Err(Refusal::NoModel {
            org_id: org_id.to_owned(),
            model_id: new.model_id.clone(),
        });
    }
    if models::find_version(conn, org_id, &new.model_id, &new.version)?.is_none() {
        return Err(Refusal::NoVersion {
            model_id: new.model_id.clone(),
            version: new.version.clone(),
        });
    }
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let (devices, platforms, labels) = (
        json!(new.devices),
        json!(new.platforms),
        Value::Object(new.labels.clone()),
    );
    conn.execute(
        "INSERT INTO deployments (id, org_id, model_id, version, target_devices, \
         target_platforms, target_labels, activation_policy, delivery_mode, status, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'active', ?10)",
        &[
            &id,
            &org_id,
            &new.model_id,
            &new.version,
            &devices.to_string(),
            &platforms.to_string(),
            &labels.to_string(),
            &new.activation_policy,
            &new.delivery_mode,
            &now,
        ],
    )?;
    let target = json!({"devices": devices, "platforms": platforms, "labels": labels});
    events::append(
        conn,
        &NewEvent {
            org_id,
            kind: "deployment.created",
            device_id: None,
            at: now,
            data: &json!({
                "deployment_id": id,
                "model_id": new.model_id,
                "version": new.version,
                "target": target,
            }),
        },
    )?;
    let deployment = find(conn, org_id, &id)?.expect("the deployment just inserted");
    let rollout = rollout(conn, &id)?;
    Ok((deployment, rollout))
}

/// The read operation: a deployment of `org_id` and its rollout, counted now.
pub fn get(conn: &Conn, org_id: &str, id: &str) -> Result<(Deployment, Rollout), Refusal> {
    let deployment =
        find(conn, org_id, id)?.ok_or_else(|| Refusal::NotFound { id: id.to_owned() })?;
    let rollout = rollout(conn, &deployment.id)?;
    Ok((deployment, rollout))
}

/// A deployment of `org_id` by its id; `None` for another org's or none.
pub fn find(conn: &Conn, org_id: &str, id: &str) -> Result<Option<Deployment>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM deployments AS dep WHERE dep.id = ?1 AND dep.org_id = ?2"),
        &[&id, &org_id],
        from_row,
    )
}

/// The cancel operation: ends an active deployment of `org_id`, with its
/// `deployment.cancelled` event; the deployment after, and its rollout counted now.
pub fn cancel(
    conn: &Conn,
    org_id: &str,
    id: &str,
    now: Timestamp,
) -> Result<(Deployment, Rollout), Refusal> {
    let deployment =
        find(conn, org_id, id)?.ok_or_else(|| Refusal::NotFound { id: id.to_owned() })?;
    if deployment.status != "active" {
        return Err(Refusal::AlreadyCancelled { id: id.to_owned() });
    }
    conn.execute(
        "UPDATE deployments SET status = 'cancelled', cancelled_at = ?2 WHERE id = ?1",
        &[&id, &now],
    )?;
    events::append(
        conn,
        &NewEvent {
            org_id,
            kind: "deployment.cancelled",
            device_id: None,
            at: now,
            data: &json!({
                "deployment_id": id,
                "model_id": deployment.model_id,
                "version": deployment.version,
            }),
        },
    )?;
    let deployment = find(conn, org_id, id)?.expect("the deployment just cancelled");
    let rollout = rollout(conn, id)?;
    Ok((deployment, rollout))
}

/// A deployment's rollout: the devices its target matches, and of those how many fetched
/// a desired state carrying it, run its version, or report the model failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    pub targeted: u64,
    pub synced: u64,
    pub active: u64,
    pub failed: u64,
}

impl Deployment {
    /// The target as the API shows it: `{devices, platforms, labels}`.
    pub fn target_json(&self) -> Value {
        json!({
            "devices": self.target_devices,
            "platforms": self.target_platforms,
            "labels": self.target_labels,
        })
    }
}

impl Rollout {
    /// The four counts as a JSON object.
    pub fn to_json(self) -> Value {
        json!({"targeted": self.targeted, "synced": self.synced, "active": self.active,
            "failed": self.failed})
    }
}

/// A deployment with its rollout as the API answers it, for what shows one outside the
/// API (`devreg deployment show --json`): the same members as the route's body.
#[derive(Debug, Serialize)]
pub struct View<'a> {
    id: &'a str,
    org_id: &'a str,
    model_id: &'a str,
    version: &'a str,
    target: Value,
    activation_policy: &'a str,
    delivery_mode: &'a str,
    status: &'a str,
    created_at: Timestamp,
    cancelled_at: Option<Timestamp>,
    targeted: u64,
    synced: u64,
    active: u64,
    failed: u64,
    rollout: Value,
}

impl<'a> View<'a> {
    pub fn of(d: &'a Deployment, r: Rollout) -> View<'a> {
        View {
            id: &d.id,
            org_id: &d.org_id,
            model_id: &d.model_id,
            version: &d.version,
            target: d.target_json(),
            activation_policy: &d.activation_policy,
            delivery_mode: &d.delivery_mode,
            status: &d.status,
            created_at: d.created_at,
            cancelled_at: d.cancelled_at,
            targeted: r.targeted,
            synced: r.synced,
            active: r.active,
            failed: r.failed,
            rollout: r.to_json(),
        }
    }
}

fn rollout(conn: &Conn, id: &str) -> Result<Rollout, StoreError> {
    let sql = format!(
        "SELECT count(*),
           coalesce(sum(CASE WHEN EXISTS (SELECT 1 FROM deployment_syncs AS s
               WHERE s.deployment_id = dep.id AND s.device_id = d.id) THEN 1 ELSE 0 END), 0),
           coalesce(sum(CASE WHEN EXISTS (SELECT 1 FROM observed_models AS o
               WHERE o.device_id = d.id AND o.model_id = dep.model_id
                 AND o.active_version = dep.version) THEN 1 ELSE 0 END), 0),
           coalesce(sum(CASE WHEN EXISTS (SELECT 1 FROM observed_models AS o
               WHERE o.device_id = d.id AND o.model_id = dep.model_id AND o.failed
                 AND o.active_version IS DISTINCT FROM dep.version) THEN 1 ELSE 0 END), 0)
         FROM deployments AS dep JOIN devices AS d ON d.org_id = dep.org_id
         WHERE dep.id = ?1 AND {}",
        matches(conn)
    );
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    conn.query_row(&sql, &[&id], |r| {
        Ok(Rollout {
            targeted: count(r.get(0)?),
            synced: count(r.get(1)?),
            active: count(r.get(2)?),
            failed: count(r.get(3)?),
        })
    })
}

/// The device's desired models: per model, the newest active deployment of its org whose
/// target matches it, with that version's manifest; ordered by model id.
pub fn desired_for(
    conn: &Conn,
    device_id: &str,
) -> Result<Vec<(Deployment, ModelVersion)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM devices AS d JOIN deployments AS dep
             ON dep.org_id = d.org_id AND dep.status = 'active'
         WHERE d.id = ?1 AND {}
         ORDER BY dep.model_id, dep.seq DESC",
        matches(conn)
    );
    let deployments: Vec<Deployment> = conn.query_all(&sql, &[&device_id], from_row)?;
    let mut desired: Vec<(Deployment, ModelVersion)> = Vec::new();
    for deployment in deployments {
        if desired
            .last()
            .is_some_and(|(d, _)| d.model_id == deployment.model_id)
        {
            continue;
        }
        let version = models::find_version(
            conn,
            &deployment.org_id,
            &deployment.model_id,
            &deployment.version,
        )?
        .ok_or_else(|| StoreError::Unusable("a deployment names a missing version".into()))?;
        desired.push((deployment, version));
    }
    Ok(desired)
}

/// A deployment of whichever org by its id, with its rollout counted now: for the
/// operator's command line.
pub fn get_any(conn: &Conn, id: &str) -> Result<Option<(Deployment, Rollout)>, StoreError> {
    let found = conn.query_opt(
        &format!("SELECT {COLUMNS} FROM deployments AS dep WHERE dep.id = ?1"),
        &[&id],
        from_row,
    )?;
    let Some(deployment) = found else {
        return Ok(None);
    };
    let rollout = rollout(conn, &deployment.id)?;
    Ok(Some((deployment, rollout)))
}
