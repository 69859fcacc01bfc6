//! Experiments (A/B tests): variants of one model, each a version with a whole-number
//! share of the org's devices; the lifecycle the operator drives (draft, running,
//! paused, completed, cancelled); the deterministic assignment of a device to a variant,
//! the same as the iOS SDK's local one; the devices' metric and event reports; the
//! results per variant; and the desired-state entries of running experiments.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::acting::{self, NotActing};
use super::deployments::Deployment;
use super::events::{self, NewEvent};
use super::models::{self, ModelVersion};
use super::{Conn, Row, StoreError};
use crate::domain::{Acting, Timestamp};

/// One variant: a version of the experiment's model and its share of the devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub id: String,
    pub name: String,
    pub model_version: String,
    /// The percentage of the org's devices assigned to it, a whole number.
    pub traffic_percentage: u32,
    pub is_control: bool,
}

/// An experiment as stored.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub model_id: String,
    pub description: Option<String>,
    /// `draft`, `running`, `paused`, `completed` or `cancelled`.
    pub status: String,
    pub primary_metric: Option<String>,
    pub min_sample_size: Option<i64>,
    pub confidence_level: Option<f64>,
    pub variants: Vec<Variant>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "id, org_id, name, model_id, description, status, primary_metric, \
                       min_sample_size, confidence_level, variants, created_at, updated_at";

fn from_row(row: &Row<'_>) -> Result<Experiment, StoreError> {
    let variants: String = row.get(9)?;
    Ok(Experiment {
        id: row.get(0)?,
        org_id: row.get(1)?,
        name: row.get(2)?,
        model_id: row.get(3)?,
        description: row.get(4)?,
        status: row.get(5)?,
        primary_metric: row.get(6)?,
        min_sample_size: row.get(7)?,
        confidence_level: row.get(8)?,
        variants: serde_json::from_str(&variants)
            .map_err(|e| StoreError::Unusable(format!("an experiment's variants: {e}")))?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
    })
}

/// Why an experiment operation refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no experiment {0}")]
    NotFound(String),
    #[error("model {model_id} has no version {version}")]
    NoVersion { model_id: String, version: String },
    /// The lifecycle does not go from `status` by `action`.
    #[error("experiment {id} is {status}; it cannot {action}")]
    Transition {
        id: String,
        status: String,
        action: &'static str,
    },
    /// Another experiment on the same model is running.
    #[error("experiment {other} on model {model_id} is running")]
    ModelBusy { model_id: String, other: String },
    /// The experiment is not running, so no device is in it.
    #[error("experiment {id} is {status}")]
    NotRunning { id: String, status: String },
    /// The device's bucket falls outside every variant's share.
    #[error("device {device_id} is not in experiment {id}")]
    NotEnrolled { id: String, device_id: String },
    #[error(transparent)]
    NotActing(#[from] NotActing),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl super::Failure for Refusal {
    fn is_database_failure(&self) -> bool {
        match self {
            Refusal::Store(e) => super::Failure::is_database_failure(e),
            Refusal::NotActing(r) => super::Failure::is_database_failure(r),
            _ => false,
        }
    }
}

/// An experiment to create, parsed by its handler.
#[derive(Debug)]
pub struct NewExperiment {
    pub name: String,
    pub model_id: String,
    pub description: Option<String>,
    pub primary_metric: Option<String>,
    pub min_sample_size: Option<i64>,
    pub confidence_level: Option<f64>,
    pub variants: Vec<Variant>,
}

/// Creates a draft experiment in `org_id`, writing `experiment.created`. Every variant's
/// version must exist ([`Refusal::NoVersion`]).
pub fn create(
    conn: &Conn,
    org_id: &str,
    new: &NewExperiment,
    now: Timestamp,
) -> Result<Experiment, Refusal> {
    for variant in &new.variants {
        if models::find_version(conn, org_id, &new.model_id, &variant.model_version)?.is_none() {
            return Err(Refusal::NoVersion {
                model_id: new.model_id.clone(),
                version: variant.model_version.clone(),
            });
        }
    }
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let variants = serde_json::to_string(&new.variants)
        .map_err(|e| StoreError::Unusable(format!("variants: {e}")))?;
    conn.execute(
        "INSERT INTO experiments (id, org_id, name, model_id, description, status, \
         primary_metric, min_sample_size, confidence_level, variants, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'draft', ?6, ?7, ?8, ?9, ?10, ?10)",
        &[
            &id,
            &org_id,
            &new.name,
            &new.model_id,
            &new.description,
            &new.primary_metric,
            &new.min_sample_size,
            &new.confidence_level,
            &variants,
            &now,
        ],
    )?;
    let experiment = get(conn, org_id, &id)?;
    append_event(conn, &experiment, "experiment.created", now)?;
    Ok(experiment)
}

fn append_event(
    conn: &Conn,
    experiment: &Experiment,
    kind: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    events::append(
        conn,
        &NewEvent {
            org_id: &experiment.org_id,
            kind,
            device_id: None,
            at: now,
            data: &json!({
                "experiment_id": experiment.id,
                "model_id": experiment.model_id,
                "status": experiment.status,
            }),
        },
    )?;
    Ok(())
}

/// The experiment `id` of `org_id`.
pub fn get(conn: &Conn, org_id: &str, id: &str) -> Result<Experiment, Refusal> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM experiments WHERE id = ?1 AND org_id = ?2"),
        &[&id, &org_id],
        from_row,
    )?
    .ok_or_else(|| Refusal::NotFound(id.to_owned()))
}

/// Which experiments a listing asks for.
#[derive(Debug, Default)]
pub struct ListQuery {
    /// Stored statuses (`running` for the SDKs' `active`).
    pub status: Option<String>,
    pub model_id: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// The org's experiments, oldest first.
pub fn list(conn: &Conn, org_id: &str, query: &ListQuery) -> Result<Vec<Experiment>, StoreError> {
    conn.query_all(
        &format!(
            "SELECT {COLUMNS} FROM experiments WHERE org_id = ?1 \
             AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR model_id = ?3) \
             ORDER BY seq LIMIT ?4 OFFSET ?5"
        ),
        &[
            &org_id,
            &query.status,
            &query.model_id,
            &i64::from(query.limit),
            &i64::from(query.offset),
        ],
        from_row,
    )
}

/// A step of the lifecycle the operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    Complete,
    Cancel,
}

impl Action {
    /// The statuses it leaves from, the status it arrives at, its verb and its event.
    fn rule(
        self,
    ) -> (
        &'static [&'static str],
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            Action::Start => (&["draft"], "running", "start", "experiment.started"),
            Action::Pause => (&["running"], "paused", "pause", "experiment.paused"),
            Action::Resume => (&["paused"], "running", "resume", "experiment.resumed"),
            Action::Complete => (
                &["running", "paused"],
                "completed",
                "complete",
                "experiment.completed",
            ),
            Action::Cancel => (
                &["draft", "running", "paused"],
                "cancelled",
                "cancel",
                "experiment.cancelled",
            ),
        }
    }
}

/// Moves the experiment `id` of `org_id` along its lifecycle, writing the step's event.
/// A step its status does not allow is [`Refusal::Transition`]; starting or resuming
/// while another experiment on the same model runs is [`Refusal::ModelBusy`] (a device
/// has one desired version per model).
pub fn transition(
    conn: &Conn,
    org_id: &str,
    id: &str,
    action: Action,
    now: Timestamp,
) -> Result<Experiment, Refusal> {
    let experiment = get(conn, org_id, id)?;
    let (from, to, verb, event) = action.rule();
    if !from.contains(&experiment.status.as_str()) {
        return Err(Refusal::Transition {
            id: experiment.id,
            status: experiment.status,
            action: verb,
        });
    }
    if to == "running"
        && let Some(other) = conn.query_opt(
            "SELECT id FROM experiments WHERE org_id = ?1 AND model_id = ?2 \
             AND status = 'running' AND id <> ?3",
            &[&org_id, &experiment.model_id, &experiment.id],
            |r| r.get::<String>(0),
        )?
    {
        return Err(Refusal::ModelBusy {
            model_id: experiment.model_id,
            other,
        });
    }
    conn.execute(
        "UPDATE experiments SET status = ?1, updated_at = ?2 WHERE id = ?3",
        &[&to, &now, &experiment.id],
    )?;
    let experiment = get(conn, org_id, id)?;
    append_event(conn, &experiment, event, now)?;
    Ok(experiment)
}

/// The bucket (0 to 99) of a device in an experiment: the first four bytes of
/// SHA-256(`"{experiment_id}:{device_id}"`), big-endian, modulo 100, as the iOS SDK
/// computes it (Experiments/ExperimentsClient.swift `getVariant`).
pub fn bucket(experiment_id: &str, device_id: &str) -> u32 {
    let digest = Sha256::digest(format!("{experiment_id}:{device_id}").as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 100
}

/// The variant a bucket falls in: the first whose cumulative share exceeds it, in the
/// experiment's order; none when the shares add up to no more than the bucket.
pub fn variant_for(variants: &[Variant], bucket: u32) -> Option<&Variant> {
    let mut cumulative = 0;
    variants.iter().find(|v| {
        cumulative += v.traffic_percentage;
        bucket < cumulative
    })
}

/// An assignment: the experiment, the device's id, its bucket and its variant.
#[derive(Debug)]
pub struct Assignment {
    pub experiment: Experiment,
    pub device_id: String,
    pub bucket: u32,
    pub variant: Variant,
}

/// The variant of the device `acting` names (or its own) in the running experiment `id`:
/// [`Refusal::NotRunning`] or [`Refusal::NotEnrolled`] otherwise.
pub fn assign(conn: &Conn, acting: &Acting, id: &str) -> Result<Assignment, Refusal> {
    let device = acting::acting_device_id(conn, acting)?;
    let experiment = get(conn, acting.org_id(), id)?;
    if experiment.status != "running" {
        return Err(Refusal::NotRunning {
            id: experiment.id,
            status: experiment.status,
        });
    }
    let bucket = bucket(&experiment.id, &device);
    let Some(variant) = variant_for(&experiment.variants, bucket).cloned() else {
        return Err(Refusal::NotEnrolled {
            id: experiment.id,
            device_id: device,
        });
    };
    Ok(Assignment {
        experiment,
        device_id: device,
        bucket,
        variant,
    })
}

/// A device's report to an experiment: a metric (a number) or an event (a name alone).
#[derive(Debug)]
pub struct Report {
    /// `metric` or `event`.
    pub kind: &'static str,
    pub name: String,
    pub value: Option<f64>,
    /// When it happened, as the device says; else when it arrived.
    pub at: Option<Timestamp>,
}

/// Stores a report of the device `acting` names (or its own) to the experiment `id` of
/// its org, under the variant the device is assigned to while the experiment runs (none
/// otherwise: the report is kept, and results count it under no variant).
pub fn report(
    conn: &Conn,
    acting: &Acting,
    id: &str,
    report: &Report,
    now: Timestamp,
) -> Result<Option<String>, Refusal> {
    let device = acting::acting_device_id(conn, acting)?;
    let experiment = get(conn, acting.org_id(), id)?;
    let variant = (experiment.status == "running")
        .then(|| variant_for(&experiment.variants, bucket(&experiment.id, &device)))
        .flatten()
        .map(|v| v.id.clone());
    conn.execute(
        "INSERT INTO experiment_reports (experiment_id, device_id, variant_id, kind, name, \
         value, at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[
            &experiment.id,
            &device,
            &variant,
            &report.kind,
            &report.name,
            &report.value,
            &report.at.unwrap_or(now),
            &now,
        ],
    )?;
    Ok(variant)
}

/// issue 27 (sdk3): the experiment telemetry names the SDKs send over OTLP, and the
/// attributes that carry the experiment, the metric's name and its value: iOS's and
/// Python's `experiment.metric_recorded {experiment.id, experiment.metric_name,
/// experiment.metric_value}` and `experiment.assigned {experiment.id}`, the browser's
/// `experiment.metric {experimentId, metricName, metricValue}` and `experiment.assigned
/// {experimentId}`.
pub const TELEMETRY_EVENTS: &[&str] = &[
    "experiment.metric_recorded",
    "experiment.metric",
    "experiment.assigned",
];

/// Stores an `experiment.*` telemetry record of device `device_id` (its UUID) as a report
/// of the experiment it names, as [`report`] does: a metric when it carries a finite
/// value, else an event. A record that names no experiment of the org is not a report
/// (the telemetry keeps it all the same).
pub fn record_telemetry(
    conn: &Conn,
    org_id: &str,
    device_id: &str,
    event_type: &str,
    attributes: &serde_json::Map<String, serde_json::Value>,
    at_ms: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| attributes.get(*k).and_then(serde_json::Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let Some(id) = text(&["experiment.id", "experimentId"]) else {
        return Ok(());
    };
    let experiment = match get(conn, org_id, &id) {
        Ok(experiment) => experiment,
        Err(Refusal::Store(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let value = ["experiment.metric_value", "metricValue"]
        .iter()
        .find_map(|k| match attributes.get(*k)? {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        })
        .filter(|v| v.is_finite());
    let name = text(&["experiment.metric_name", "metricName"])
        .filter(|_| value.is_some())
        .unwrap_or_else(|| event_type.to_owned());
    let variant = (experiment.status == "running")
        .then(|| variant_for(&experiment.variants, bucket(&experiment.id, device_id)))
        .flatten()
        .map(|v| v.id.clone());
    let kind = if value.is_some() { "metric" } else { "event" };
    conn.execute(
        "INSERT INTO experiment_reports (experiment_id, device_id, variant_id, kind, name, \
         value, at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[
            &experiment.id,
            &device_id,
            &variant,
            &kind,
            &name,
            &value,
            &Timestamp(at_ms.div_euclid(1000)),
            &now,
        ],
    )?;
    Ok(())
}

/// One variant's results.
#[derive(Debug, Default, Clone)]
pub struct VariantResults {
    /// The org's devices whose bucket falls in the variant.
    pub assigned_devices: u64,
    /// Devices that reported to it.
    pub devices: u64,
    /// Reports of either kind.
    pub events: u64,
    /// Per metric name: the count and the mean of its values.
    pub metrics: BTreeMap<String, (i64, f64)>,
}

/// The experiment and its results per variant id (reports made while a device was in no
/// variant are under `""`).
pub fn results(
    conn: &Conn,
    org_id: &str,
    id: &str,
) -> Result<(Experiment, BTreeMap<String, VariantResults>), Refusal> {
    let experiment = get(conn, org_id, id)?;
    let mut out: BTreeMap<String, VariantResults> = experiment
        .variants
        .iter()
        .map(|v| (v.id.clone(), VariantResults::default()))
        .collect();
    let devices: Vec<String> = conn.query_all(
        "SELECT id FROM devices WHERE org_id = ?1",
        &[&org_id],
        |r| r.get(0),
    )?;
    for device in devices {
        if let Some(v) = variant_for(&experiment.variants, bucket(&experiment.id, &device)) {
            out.entry(v.id.clone()).or_default().assigned_devices += 1;
        }
    }
    let counts: Vec<(Option<String>, i64, i64)> = conn.query_all(
        "SELECT variant_id, count(DISTINCT device_id), count(*) FROM experiment_reports \
         WHERE experiment_id = ?1 GROUP BY variant_id",
        &[&experiment.id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    for (variant, devices, events) in counts {
        let entry = out.entry(variant.unwrap_or_default()).or_default();
        entry.devices = u64::try_from(devices).unwrap_or(0);
        entry.events = u64::try_from(events).unwrap_or(0);
    }
    let means: Vec<(Option<String>, String, i64, f64)> = conn.query_all(
        "SELECT variant_id, name, count(value), avg(value) FROM experiment_reports \
         WHERE experiment_id = ?1 AND value IS NOT NULL GROUP BY variant_id, name",
        &[&experiment.id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    for (variant, name, count, mean) in means {
        out.entry(variant.unwrap_or_default())
            .or_default()
            .metrics
            .insert(name, (count, mean));
    }
    Ok((experiment, out))
}

/// The desired-state entries running experiments give a device of `org_id`: per model
/// under a running experiment, the version of the device's variant, as a deployment
/// whose id is the experiment's and whose status is `experiment`. A device outside every
/// variant's share gets none (its deployments apply).
pub fn desired_for(
    conn: &Conn,
    org_id: &str,
    device_id: &str,
) -> Result<Vec<(Deployment, ModelVersion)>, StoreError> {
    let running = conn.query_all(
        &format!(
            "SELECT {COLUMNS} FROM experiments WHERE org_id = ?1 AND status = 'running' \
             ORDER BY seq"
        ),
        &[&org_id],
        from_row,
    )?;
    let mut out = Vec::new();
    for experiment in running {
        let Some(variant) = variant_for(&experiment.variants, bucket(&experiment.id, device_id))
        else {
            continue;
        };
        let Some(version) =
            models::find_version(conn, org_id, &experiment.model_id, &variant.model_version)?
        else {
            continue;
        };
        out.push((
            Deployment {
                id: experiment.id.clone(),
                org_id: experiment.org_id.clone(),
                model_id: experiment.model_id.clone(),
                version: variant.model_version.clone(),
                target_devices: Value::Array(Vec::new()),
                target_platforms: Value::Array(Vec::new()),
                target_labels: json!({}),
                activation_policy: "immediate".to_owned(),
                delivery_mode: "managed".to_owned(),
                status: "experiment".to_owned(),
                created_at: experiment.updated_at,
                cancelled_at: None,
            },
            version,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(id: &str, share: u32) -> Variant {
        Variant {
            id: id.to_owned(),
            name: id.to_owned(),
            model_version: "1.0.0".to_owned(),
            traffic_percentage: share,
            is_control: false,
        }
    }

    /// Expected values computed once outside this code, with Python's hashlib:
    /// `int.from_bytes(sha256(f"{e}:{d}".encode()).digest()[:4], "big") % 100`.
    #[test]
    fn bucket_is_the_ios_sdks_sha256_rule() {
        assert_eq!(bucket("exp-1", "device-1"), 11);
        assert_eq!(
            bucket(
                "01a21490-5c3d-7e2f-9a1b-2c3d4e5f6a7b",
                "01a2147f-daeb-7763-909c-9e315a041b31"
            ),
            84
        );
        assert_eq!(bucket("e", "d"), 75);
        assert_eq!(bucket("kbd-ab", "laptop-001"), 37);
    }

    #[test]
    fn variant_for_takes_cumulative_shares_in_order_and_none_past_them() {
        let variants = [variant("a", 10), variant("b", 30)];
        assert_eq!(variant_for(&variants, 0).map(|v| v.id.as_str()), Some("a"));
        assert_eq!(variant_for(&variants, 9).map(|v| v.id.as_str()), Some("a"));
        assert_eq!(variant_for(&variants, 10).map(|v| v.id.as_str()), Some("b"));
        assert_eq!(variant_for(&variants, 39).map(|v| v.id.as_str()), Some("b"));
        assert!(variant_for(&variants, 40).is_none());
    }
}
