//! The fleet workload for `bench/workload.sh`: what a fleet of devices running the
//! official SDKs sends, generated open-loop at the fleet's natural rate. Per device per
//! interval (the SDKs' default is 300 s): one heartbeat, one desired-state sync, an
//! observed-state report for a share of devices (those whose state changed, default 10%),
//! and five telemetry batches of 20 events. Bodies are the Python SDK's
//! (`octomil/control.py` heartbeat, sync and observed-state; `telemetry_uploader.py`
//! batches), each from the device's own key.
//!
//! ```text
//! cargo run --release --example fleetload -- URL KEYS_FILE FLEET_SIZE SECONDS \
//!     [--interval 300] [--observed 0.1] [--batches 5] [--events 20] [--connections 64] \
//!     [--model MODEL_ID --version VERSION]
//! ```
//!
//! The requests of one interval are spread evenly over it and interleaved (wrk2's model:
//! request `k` is due at `start + k / rate`, its latency counts from then, so a server that
//! stalls cannot hide the queue it caused). Prints one line per endpoint:
//! `RESULT endpoint=.. rate=.. sent=.. non2xx=.. p50_ms=.. p99_ms=.. p999_ms=.. max_ms=..`
//! and a last line `RESULT endpoint=all ...` with the late share: requests that were sent
//! more than 10 ms after they were due because every connection was busy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
struct Args {
    url: String,
    /// "id,key" lines, one per device (bench/workload.sh spreads them over the fleet).
    keys_file: String,
    /// The fleet the rate is computed for.
    fleet_size: u64,
    seconds: f64,
    /// Seconds between one device's heartbeats (and syncs): the SDKs' default.
    #[arg(long, default_value_t = 300.0)]
    interval: f64,
    /// Heartbeats per device per interval (0 leaves them out, to measure the others alone).
    #[arg(long, default_value_t = 1.0)]
    heartbeats: f64,
    /// Syncs per device per interval.
    #[arg(long, default_value_t = 1.0)]
    syncs: f64,
    /// Share of devices that report observed state once per interval.
    #[arg(long, default_value_t = 0.1)]
    observed: f64,
    /// Telemetry batches per device per interval.
    #[arg(long, default_value_t = 5)]
    batches: u32,
    /// Events per telemetry batch.
    #[arg(long, default_value_t = 20)]
    events: u32,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// The deployed model the observed-state reports name.
    #[arg(long, default_value = "bench-model")]
    model: String,
    #[arg(long, default_value = "1.0.0")]
    version: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Endpoint {
    Heartbeat,
    Sync,
    Observed,
    Telemetry,
}

const ENDPOINTS: [Endpoint; 4] = [
    Endpoint::Heartbeat,
    Endpoint::Sync,
    Endpoint::Observed,
    Endpoint::Telemetry,
];

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Heartbeat => "heartbeat",
            Endpoint::Sync => "sync",
            Endpoint::Observed => "observed-state",
            Endpoint::Telemetry => "telemetry",
        }
    }
}

/// The order requests are sent in: a smooth weighted round robin over the endpoints'
/// shares, so each endpoint's requests are spread evenly over the run.
fn schedule(weights: [f64; 4], len: usize) -> Vec<Endpoint> {
    let total: f64 = weights.iter().sum();
    let mut credit = [0.0f64; 4];
    (0..len)
        .map(|_| {
            for (c, w) in credit.iter_mut().zip(weights) {
                *c += w;
            }
            let (best, _) = credit
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            credit[best] -= total;
            ENDPOINTS[best]
        })
        .collect()
}

struct Sample {
    endpoint: Endpoint,
    latency: Duration,
    late: bool,
    ok: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let devices: Arc<Vec<(String, String)>> = Arc::new(
        std::fs::read_to_string(&args.keys_file)
            .expect("read KEYS_FILE")
            .lines()
            .filter_map(|l| l.split_once(','))
            .map(|(id, key)| (id.to_owned(), format!("Bearer {key}")))
            .collect(),
    );
    assert!(!devices.is_empty(), "KEYS_FILE has no id,key lines");

    let per_device = [
        args.heartbeats,
        args.syncs,
        args.observed,
        f64::from(args.batches),
    ];
    let weights = per_device.map(|n| n * args.fleet_size as f64 / args.interval);
    let rate: f64 = weights.iter().sum();
    let total = (rate * args.seconds) as u64;
    let order = Arc::new(schedule(weights, 10_000));
    let interval = Duration::from_secs_f64(1.0 / rate);
    eprintln!(
        "fleet of {} at one round per {} s: {:.0} req/s ({:.0} heartbeats, {:.0} syncs, \
         {:.0} observed-state, {:.0} telemetry batches of {} events = {:.0} events/s) for {} s",
        args.fleet_size,
        args.interval,
        rate,
        weights[0],
        weights[1],
        weights[2],
        weights[3],
        args.events,
        weights[3] * f64::from(args.events),
        args.seconds
    );

    let next = Arc::new(AtomicU64::new(0));
    let started = tokio::time::Instant::now() + Duration::from_millis(50);
    let run = std::process::id();
    let base = Arc::new(args.url.trim_end_matches('/').to_owned());
    let (model, version) = (Arc::new(args.model), Arc::new(args.version));
    let events = args.events;
    let workers: Vec<_> = (0..args.connections)
        .map(|_| {
            let (devices, next, order, base) =
                (devices.clone(), next.clone(), order.clone(), base.clone());
            let (model, version) = (model.clone(), version.clone());
            // One client per worker: one keep-alive connection each, like wrk's.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= total {
                        return seen;
                    }
                    let due = started + interval.mul_f64(k as f64);
                    tokio::time::sleep_until(due).await;
                    let late = due.elapsed() > Duration::from_millis(10);
                    let endpoint = order[k as usize % order.len()];
                    // Each endpoint walks the devices from its own place, so one
                    // device's requests are spread over the run as a device's are.
                    let offset = ENDPOINTS.iter().position(|e| *e == endpoint).unwrap();
                    let (id, auth) =
                        &devices[(k as usize + offset * devices.len() / 4) % devices.len()];
                    let request = match endpoint {
                        Endpoint::Heartbeat => client
                            .post(format!("{base}/api/v1/devices/{id}/heartbeat"))
                            .body(
                                r#"{"sdk_version":"4.17.42","os_version":"Linux-6.1-x86_64","platform":"python","metadata":{"battery_level":85,"network_type":"wifi"}}"#,
                            ),
                        Endpoint::Sync => client
                            .post(format!("{base}/api/v1/devices/{id}/sync"))
                            .body(format!(
                                r#"{{"schemaVersion":"1.12.0","deviceId":"{id}","sdkVersion":"4.17.42","platform":"python","modelInventory":[{{"modelId":"{model}","version":"{version}","status":"active"}}],"activeVersions":[{{"model_id":"{model}","version":"{version}"}}],"knownStateVersion":"1"}}"#
                            )),
                        Endpoint::Observed => {
                            // A report that changed: the status alternates per report.
                            let status = if k % 2 == 0 { "ACTIVE" } else { "DOWNLOADING" };
                            client
                                .post(format!("{base}/api/v1/devices/{id}/observed-state"))
                                .body(format!(
                                    r#"{{"schemaVersion":"1.4.0","deviceId":"{id}","reportedAt":"2026-12-01T12:00:00.000Z","models":[{{"modelId":"{model}","status":"{status}","installedVersion":"{version}","activeVersion":"{version}"}}]}}"#
                                ))
                        }
                        Endpoint::Telemetry => {
                            let first = k * u64::from(events);
                            let list: Vec<String> = (0..u64::from(events))
                                .map(|j| {
                                    format!(
                                        r#"{{"event_id":"{run}-{k}-{j}","device_id":"{id}","boot_id":"b{run}","session_id":null,"sequence_no":{},"event_type":"inference.completed","telemetry_class":"IMPORTANT","occurred_at":"2026-12-01T12:00:00.123456+00:00","model_id":"{model}","model_version":"{version}","payload_json":"{{\"latency_ms\": 12.5, \"tokens\": 42}}"}}"#,
                                        first + j
                                    )
                                })
                                .collect();
                            client.post(format!("{base}/api/v1/telemetry/batches")).body(format!(
                                r#"{{"device_id":"{id}","boot_id":"b{run}","batch_id":"{run}-{k}","first_seq":{first},"last_seq":{},"events":[{}]}}"#,
                                first + u64::from(events) - 1,
                                list.join(",")
                            ))
                        }
                    };
                    let ok = request
                        .header("authorization", auth)
                        .header("content-type", "application/json")
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    seen.push(Sample {
                        endpoint,
                        latency: due.elapsed(),
                        late,
                        ok,
                    });
                }
            })
        })
        .collect();
    let mut samples = Vec::with_capacity(total as usize);
    for worker in workers {
        samples.extend(worker.await.unwrap());
    }
    for (i, endpoint) in ENDPOINTS.iter().enumerate() {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.endpoint == *endpoint).collect();
        report(endpoint.name(), weights[i], &mine);
    }
    let all: Vec<&Sample> = samples.iter().collect();
    report("all", rate, &all);
}

fn report(name: &str, rate: f64, samples: &[&Sample]) {
    if samples.is_empty() {
        println!("RESULT endpoint={name} rate={rate:.0} sent=0");
        return;
    }
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let pct = |p: f64| {
        let i =
            ((latencies.len() as f64 * p / 100.0).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    let failed = samples.iter().filter(|s| !s.ok).count();
    let late = samples.iter().filter(|s| s.late).count();
    println!(
        "RESULT endpoint={name} rate={rate:.0} sent={} non2xx={failed} late={late} p50_ms={:.3} \
         p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        samples.len(),
        pct(50.0),
        pct(99.0),
        pct(99.9),
        pct(100.0)
    );
}
