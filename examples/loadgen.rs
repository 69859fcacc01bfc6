//! An open-loop load generator for `bench/run.sh`: heartbeats at a fixed rate, each from a
//! different device with its own key, latency measured from when each request was *due*
//! (not when it was sent), so a stalled server cannot hide its queueing (coordinated
//! omission).
//!
//! ```text
//! cargo run --release --example loadgen -- URL KEYS_FILE RATE_PER_SEC SECONDS
//! ```
//! Prints `RESULT sent=.. non2xx=.. p50_ms=.. p99_ms=.. p999_ms=.. max_ms=..`.

use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, keys_file, rate, seconds] = args.as_slice() else {
        eprintln!("usage: loadgen URL KEYS_FILE RATE_PER_SEC SECONDS");
        std::process::exit(2);
    };
    let rate: f64 = rate.parse().expect("RATE_PER_SEC is a number");
    let seconds: f64 = seconds.parse().expect("SECONDS is a number");
    let devices: Arc<Vec<(String, String)>> = Arc::new(
        std::fs::read_to_string(keys_file)
            .expect("read KEYS_FILE")
            .lines()
            .filter_map(|l| l.split_once(','))
            .map(|(id, key)| (id.to_owned(), key.to_owned()))
            .collect(),
    );
    assert!(!devices.is_empty(), "KEYS_FILE has no id,key lines");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();

    let total = (rate * seconds) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let mut next = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    while next < total {
        ticker.tick().await;
        let now = Instant::now();
        while next < total && started + interval * next as u32 <= now {
            let due = started + interval * next as u32;
            let (id, key) = devices[next as usize % devices.len()].clone();
            let client = client.clone();
            let url = format!("{url}/api/v1/devices/{id}/heartbeat");
            tasks.push(tokio::spawn(async move {
                let ok = client
                    .put(url)
                    .bearer_auth(key)
                    .body(r#"{"status":"active","metrics":{"battery_level":85}}"#)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                (due.elapsed(), ok)
            }));
            next += 1;
        }
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in tasks {
        let (latency, ok) = task.await.unwrap();
        latencies.push(latency);
        failed += u64::from(!ok);
    }
    latencies.sort();
    let pct = |p: f64| {
        let i =
            ((latencies.len() as f64 * p / 100.0).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "RESULT sent={} non2xx={failed} rate={:.0} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        latencies.len(),
        latencies.len() as f64 / started.elapsed().as_secs_f64(),
        pct(50.0),
        pct(99.0),
        pct(99.9),
        pct(100.0)
    );
}
