//! A device's desired state (what its org's deployments ask of it) and its observed state
//! (what it last reported), reconciled in one function that every SDK endpoint calls.
//!
//! The desired models are computed from the deployments whenever they are read, so a
//! deployment, a cancel, a new device or a label change (whoever writes it) all count.
//! `desired_state_version` is kept per device: when what is computed differs from what
//! was computed last (`digest`, the deployments' ids), it goes up by one. Nothing is
//! written when nothing changed: the Python device agent reports every 5 seconds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Conn;
use super::StoreError;
use super::acting::{self, Device, NotActing};
use super::deployments::{self, Deployment};
use super::events::{self, NewEvent};
use super::models::ModelVersion;
use crate::domain::{Acting, Timestamp};

/// One model's entry of an observed report, normalised from the SDKs' shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedModel {
    pub model_id: String,
    /// Lowercase.
    pub status: String,
    pub installed_version: Option<String>,
    pub active_version: Option<String>,
    pub failed: bool,
    /// The entry as the device sent it, JSON text.
    pub entry: String,
}

/// What a fetch of a device's desired state also records: the command the SDK handlers
/// build from their requests.
#[derive(Debug, Default)]
pub struct FetchCommand {
    /// A full report of the device's models, replacing the previous one.
    pub report: Option<Vec<ObservedModel>>,
    /// That the device fetched its desired state (sync, desired-state): rollout `synced`.
    pub mark_synced: bool,
    /// That assignments / control sync saw this version.
    pub mark_refreshed: bool,
}

/// A device's desired state, and the device.
#[derive(Debug)]
pub struct Fetched {
    pub device: Device,
    pub desired: DesiredState,
}

/// A desired-state fetch, the read half: the device `acting` names and its desired state,
/// or `None` when the fetch has something to record (a version moved on, a report that
/// changes something, a first sync or refresh): then [`fetch_and_record`], in a write.
/// Most fetches change nothing (the Python device agent reports every 5 seconds), and
/// so never wait for the writer.
pub fn fetch(
    conn: &Conn,
    acting: &Acting,
    command: &FetchCommand,
    now: Timestamp,
) -> Result<Option<Fetched>, NotActing> {
    let device = acting::acting_device(conn, acting)?;
    let (desired, dirty) = reconcile(conn, &Fetch::of(&device, command, now), false)?;
    Ok((!dirty).then_some(Fetched { device, desired }))
}

/// A desired-state fetch, the write half: [`fetch`] recording what it has to, with its
/// events, in the write's transaction.
pub fn fetch_and_record(
    conn: &Conn,
    acting: &Acting,
    command: &FetchCommand,
    now: Timestamp,
) -> Result<Fetched, NotActing> {
    let device = acting::acting_device(conn, acting)?;
    let (desired, _) = reconcile(conn, &Fetch::of(&device, command, now), true)?;
    Ok(Fetched { device, desired })
}

/// What [`reconcile`] computes and records, for one device.
struct Fetch<'a> {
    device_id: &'a str,
    org_id: &'a str,
    report: Option<&'a [ObservedModel]>,
    mark_synced: bool,
    mark_refreshed: bool,
    now: Timestamp,
}

impl<'a> Fetch<'a> {
    fn of(device: &'a Device, command: &'a FetchCommand, now: Timestamp) -> Fetch<'a> {
        Fetch {
            device_id: &device.id,
            org_id: device.org_id.as_str(),
            report: command.report.as_deref(),
            mark_synced: command.mark_synced,
            mark_refreshed: command.mark_refreshed,
            now,
        }
    }
}

/// The desired state a fetch answers with.
#[derive(Debug)]
pub struct DesiredState {
    pub version: i64,
    pub models: Vec<(Deployment, ModelVersion)>,
    /// The version the previous assignments / control-sync fetch saw (0: none).
    pub previously_refreshed: i64,
}

struct Stored {
    version: i64,
    digest: String,
    refreshed_version: i64,
}

/// Computes the device's desired state and compares the report with what is stored.
/// With `write` false nothing is written and the boolean says whether a write is needed;
/// with `write` true the changes are written (with their events) and it is false.
fn reconcile(
    conn: &Conn,
    fetch: &Fetch<'_>,
    write: bool,
) -> Result<(DesiredState, bool), StoreError> {
    let mut models = deployments::desired_for(conn, fetch.device_id)?;
    // A running experiment's variant replaces the deployments' version of its model.
    for entry in super::experiments::desired_for(conn, fetch.org_id, fetch.device_id)? {
        models.retain(|(d, _)| d.model_id != entry.0.model_id);
        models.push(entry);
    }
    models.sort_by(|a, b| a.0.model_id.cmp(&b.0.model_id));
    let digest = models
        .iter()
        .map(|(d, _)| d.id.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let stored = conn
        .query_opt(
            "SELECT version, digest, refreshed_version FROM device_desired_state \
             WHERE device_id = ?1",
            &[&fetch.device_id],
            |r| {
                Ok(Stored {
                    version: r.get(0)?,
                    digest: r.get(1)?,
                    refreshed_version: r.get(2)?,
                })
            },
        )?
        .unwrap_or(Stored {
            version: 0,
            digest: String::new(),
            refreshed_version: 0,
        });
    let version = if stored.digest == digest {
        stored.version
    } else {
        stored.version + 1
    };
    let mut dirty =
        version != stored.version || (fetch.mark_refreshed && stored.refreshed_version != version);
    let unsynced: Vec<&str> = if fetch.mark_synced {
        let mut missing = Vec::new();
        // An experiment's entry is no deployment: its rollout is the experiment's results.
        for (deployment, _) in models.iter().filter(|(d, _)| d.status != "experiment") {
            if conn
                .query_opt(
                    "SELECT 1 FROM deployment_syncs WHERE deployment_id = ?1 AND device_id = ?2",
                    &[&deployment.id, &fetch.device_id],
                    |_| Ok(()),
                )?
                .is_none()
            {
                missing.push(deployment.id.as_str());
            }
        }
        missing
    } else {
        Vec::new()
    };
    dirty |= !unsynced.is_empty();
    let observed_change = match fetch.report {
        Some(report) => observed_changes(conn, fetch.device_id, report)?,
        None => None,
    };
    dirty |= observed_change.is_some();

    if write && dirty {
        let refreshed = if fetch.mark_refreshed {
            version
        } else {
            stored.refreshed_version
        };
        conn.execute(
            "INSERT INTO device_desired_state (device_id, version, digest, refreshed_version, \
             changed_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (device_id) DO UPDATE SET version = ?2, digest = ?3, \
             refreshed_version = ?4, \
             changed_at = CASE WHEN device_desired_state.version = ?2 \
                 THEN device_desired_state.changed_at ELSE ?5 END",
            &[&fetch.device_id, &version, &digest, &refreshed, &fetch.now],
        )?;
        for deployment_id in &unsynced {
            conn.execute(
                "INSERT INTO deployment_syncs (deployment_id, device_id, synced_at) \
                 VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                &[deployment_id, &fetch.device_id, &fetch.now],
            )?;
        }
        if let (Some(change), Some(report)) = (&observed_change, fetch.report) {
            write_observed(conn, fetch, report, change)?;
        }
        dirty = false;
    }
    Ok((
        DesiredState {
            version,
            models,
            previously_refreshed: stored.refreshed_version,
        },
        dirty,
    ))
}

/// Which models a report changes (`changed`) and which it drops (`removed`); `None` when
/// it changes nothing.
struct ObservedChange {
    changed: Vec<String>,
    removed: Vec<String>,
}

fn observed_changes(
    conn: &Conn,
    device_id: &str,
    report: &[ObservedModel],
) -> Result<Option<ObservedChange>, StoreError> {
    let stored = stored_observed(conn, device_id)?;
    let mut reported: BTreeMap<&str, &ObservedModel> = BTreeMap::new();
    for entry in report {
        // The last entry of a model wins, as it would if they were applied in order.
        reported.insert(entry.model_id.as_str(), entry);
    }
    let changed: Vec<String> = reported
        .iter()
        .filter(|(id, entry)| stored.get(**id).is_none_or(|s| s != **entry))
        .map(|(id, _)| (*id).to_owned())
        .collect();
    let removed: Vec<String> = stored
        .keys()
        .filter(|id| !reported.contains_key(id.as_str()))
        .cloned()
        .collect();
    Ok((!changed.is_empty() || !removed.is_empty()).then_some(ObservedChange { changed, removed }))
}

fn stored_observed(
    conn: &Conn,
    device_id: &str,
) -> Result<BTreeMap<String, ObservedModel>, StoreError> {
    let rows = conn.query_all(
        "SELECT model_id, status, installed_version, active_version, failed, entry \
             FROM observed_models WHERE device_id = ?1",
        &[&device_id],
        |r| {
            Ok(ObservedModel {
                model_id: r.get(0)?,
                status: r.get(1)?,
                installed_version: r.get(2)?,
                active_version: r.get(3)?,
                failed: r.get(4)?,
                entry: r.get(5)?,
            })
        },
    )?;
    Ok(rows.into_iter().map(|m| (m.model_id.clone(), m)).collect())
}

fn write_observed(
    conn: &Conn,
    fetch: &Fetch<'_>,
    report: &[ObservedModel],
    change: &ObservedChange,
) -> Result<(), StoreError> {
    for model_id in &change.removed {
        conn.execute(
            "DELETE FROM observed_models WHERE device_id = ?1 AND model_id = ?2",
            &[&fetch.device_id, model_id],
        )?;
    }
    const UPSERT: &str = "INSERT INTO observed_models (device_id, model_id, status, \
         installed_version, active_version, failed, entry, changed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (device_id, model_id) DO UPDATE SET status = ?3, installed_version = ?4, \
         active_version = ?5, failed = ?6, entry = ?7, changed_at = ?8";
    for entry in report.iter().rev() {
        if !change.changed.contains(&entry.model_id) {
            continue;
        }
        // Reversed, the last entry of a model is written first; skip the earlier ones.
        if report
            .iter()
            .rposition(|e| e.model_id == entry.model_id)
            .is_some_and(|last| !std::ptr::eq(&report[last], entry))
        {
            continue;
        }
        conn.execute(
            UPSERT,
            &[
                &fetch.device_id,
                &entry.model_id,
                &entry.status,
                &entry.installed_version,
                &entry.active_version,
                &entry.failed,
                &entry.entry,
                &fetch.now,
            ],
        )?;
    }
    events::append(
        conn,
        &NewEvent {
            org_id: fetch.org_id,
            kind: "device.observed_state_changed",
            device_id: Some(fetch.device_id),
            at: fetch.now,
            data: &json!({"changed": change.changed, "removed": change.removed}),
        },
    )?;
    Ok(())
}

/// What retrieve shows as `observed_state`: `{"models": [...], "updated_at"}`, or null
/// before the device reported anything.
pub fn observed_state(conn: &Conn, device_id: &str) -> Result<Value, StoreError> {
    let rows = conn.query_all(
        "SELECT model_id, status, installed_version, active_version, entry, changed_at \
             FROM observed_models WHERE device_id = ?1 ORDER BY model_id",
        &[&device_id],
        |r| {
            let entry: String = r.get(4)?;
            let changed_at: Timestamp = r.get(5)?;
            Ok((
                json!({
                    "model_id": r.get::<String>(0)?,
                    "status": r.get::<String>(1)?,
                    "installed_version": r.get::<Option<String>>(2)?,
                    "active_version": r.get::<Option<String>>(3)?,
                    "reported": serde_json::from_str::<Value>(&entry).unwrap_or(Value::Null),
                    "changed_at": changed_at,
                }),
                changed_at,
            ))
        },
    )?;
    let Some(updated_at) = rows.iter().map(|(_, t)| *t).max() else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "models": rows.into_iter().map(|(m, _)| m).collect::<Vec<_>>(),
        "updated_at": updated_at,
    }))
}
