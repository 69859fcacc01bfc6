//! The runtime planner's server side (`/api/v2/runtime/*`, every SDK but the browser):
//! what a plan is built from (a model's newest version, and the benchmarks devices reported
//! for it) and the benchmark reports themselves. devreg runs no model and has no cloud
//! to fall back on, so a plan is local-first and static: the handler picks the engine
//! from the version's format and the device's installed runtimes. No HTTP here.

use super::{Conn, StoreError};
use crate::domain::{Credential, Timestamp};

/// The version a plan names: a model's newest, by when it was added.
#[derive(Debug, Clone)]
pub struct PlannedVersion {
    pub model_id: String,
    pub version: String,
    pub artifact_id: String,
    pub format: String,
    pub total_bytes: i64,
    pub sha256: String,
    pub download_url: String,
}

/// One engine's best successful benchmark for a model on a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineScore {
    pub engine: String,
    pub tokens_per_second: f64,
    pub reports: i64,
}

/// What a plan for `model` on `platform` is built from, in the caller's org.
#[derive(Debug)]
pub struct PlanInputs {
    /// `None` when the org has no such model, or no version of it.
    pub version: Option<PlannedVersion>,
    /// Engines devices of this platform reported running the model, fastest first.
    pub scores: Vec<EngineScore>,
}

/// The plan's inputs: the model's newest version and the engines benchmarked for it.
pub fn plan_inputs(
    conn: &Conn,
    org_id: &str,
    model: &str,
    platform: &str,
) -> Result<PlanInputs, StoreError> {
    let version = conn.query_opt(
        "SELECT model_id, version, artifact_id, format, total_bytes, sha256, download_url \
         FROM model_versions WHERE org_id = ?1 AND model_id = ?2 \
         ORDER BY created_at DESC, version DESC LIMIT 1",
        &[&org_id, &model],
        |row| {
            Ok(PlannedVersion {
                model_id: row.get(0)?,
                version: row.get(1)?,
                artifact_id: row.get(2)?,
                format: row.get(3)?,
                total_bytes: row.get(4)?,
                sha256: row.get(5)?,
                download_url: row.get(6)?,
            })
        },
    )?;
    let scores = conn.query_all(
        "SELECT engine, max(tokens_per_second), count(*) FROM runtime_benchmarks \
         WHERE org_id = ?1 AND model = ?2 AND platform = ?3 AND success = 1 \
         AND tokens_per_second IS NOT NULL \
         GROUP BY engine ORDER BY max(tokens_per_second) DESC, engine",
        &[&org_id, &model, &platform],
        |row| {
            Ok(EngineScore {
                engine: row.get(0)?,
                tokens_per_second: row.get(1)?,
                reports: row.get(2)?,
            })
        },
    )?;
    Ok(PlanInputs { version, scores })
}

/// A benchmark report, parsed.
#[derive(Debug, Clone)]
pub struct Benchmark {
    pub model: String,
    pub capability: String,
    pub engine: String,
    /// The device profile's `platform`, lowercase.
    pub platform: String,
    pub success: bool,
    pub tokens_per_second: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub peak_memory_bytes: Option<i64>,
    /// The whole report as sent, a JSON object as text.
    pub body: String,
}

/// A stored report.
#[derive(Debug)]
pub struct StoredBenchmark {
    pub id: String,
    pub device_id: Option<String>,
    pub received_at: Timestamp,
    pub benchmark: Benchmark,
}

/// Most reports kept per org: the oldest go first.
pub const MAX_BENCHMARKS_PER_ORG: i64 = 10_000;

/// Stores a report from `credential` (its device, if a device credential), then deletes
/// the org's oldest beyond [`MAX_BENCHMARKS_PER_ORG`].
pub fn record_benchmark(
    conn: &Conn,
    credential: &Credential,
    benchmark: &Benchmark,
    now: Timestamp,
) -> Result<StoredBenchmark, StoreError> {
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let org_id = credential.org_id.as_str();
    let device_id = credential.own_device().map(str::to_owned);
    let success: i64 = benchmark.success.into();
    conn.execute(
        "INSERT INTO runtime_benchmarks (org_id, id, device_id, model, capability, engine, \
         platform, success, tokens_per_second, ttft_ms, peak_memory_bytes, body, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        &[
            &org_id,
            &id,
            &device_id,
            &benchmark.model,
            &benchmark.capability,
            &benchmark.engine,
            &benchmark.platform,
            &success,
            &benchmark.tokens_per_second,
            &benchmark.ttft_ms,
            &benchmark.peak_memory_bytes,
            &benchmark.body,
            &now,
        ],
    )?;
    conn.execute(
        "DELETE FROM runtime_benchmarks WHERE org_id = ?1 AND id < (\
         SELECT id FROM runtime_benchmarks WHERE org_id = ?1 \
         ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        &[&org_id, &(MAX_BENCHMARKS_PER_ORG - 1)],
    )?;
    Ok(StoredBenchmark {
        id,
        device_id,
        received_at: now,
        benchmark: benchmark.clone(),
    })
}

/// The org's newest reports, at most `limit`, newest first; of one model if given.
pub fn list_benchmarks(
    conn: &Conn,
    org_id: &str,
    model: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredBenchmark>, StoreError> {
    const COLUMNS: &str = "SELECT id, device_id, received_at, model, capability, engine, \
        platform, success, tokens_per_second, ttft_ms, peak_memory_bytes, body \
        FROM runtime_benchmarks";
    let read = |row: &super::Row<'_>| {
        let success: i64 = row.get(7)?;
        Ok(StoredBenchmark {
            id: row.get(0)?,
            device_id: row.get(1)?,
            received_at: row.get(2)?,
            benchmark: Benchmark {
                model: row.get(3)?,
                capability: row.get(4)?,
                engine: row.get(5)?,
                platform: row.get(6)?,
                success: success != 0,
                tokens_per_second: row.get(8)?,
                ttft_ms: row.get(9)?,
                peak_memory_bytes: row.get(10)?,
                body: row.get(11)?,
            },
        })
    };
    match model {
        Some(model) => conn.query_all(
            &format!("{COLUMNS} WHERE org_id = ?1 AND model = ?2 ORDER BY id DESC LIMIT ?3"),
            &[&org_id, &model, &limit],
            read,
        ),
        None => conn.query_all(
            &format!("{COLUMNS} WHERE org_id = ?1 ORDER BY id DESC LIMIT ?2"),
            &[&org_id, &limit],
            read,
        ),
    }
}

/// Forgets the org's reports (an ephemeral server's reset of one org).
pub fn delete_org(conn: &Conn, org_id: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM runtime_benchmarks WHERE org_id = ?1",
        &[&org_id],
    )?;
    Ok(())
}
