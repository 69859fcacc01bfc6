//! An open-loop load generator for `bench/run.sh`, on the model of wrk2: heartbeats at a
//! fixed rate, each from a different device with its own key, sent over a fixed set of
//! connections. Request `k` is due at `start + k / rate`; its latency is measured from
//! when it was *due*, not when a connection got free to send it, so a server that stalls
//! cannot hide the queue it caused (coordinated omission).
//!
//! ```text
//! cargo run --release --example loadgen -- URL KEYS_FILE RATE_PER_SEC SECONDS [CONNECTIONS]
//! ```
//! Prints `RESULT sent=.. non2xx=.. rate=.. p50_ms=.. p99_ms=.. p999_ms=.. max_ms=..`, where
//! `rate` is the rate asked for and `non2xx` counts failed requests too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, keys_file, rate, seconds, connections) = match args.as_slice() {
        [_, url, keys, rate, seconds] => (url, keys, rate, seconds, "64"),
        [_, url, keys, rate, seconds, conns] => (url, keys, rate, seconds, conns.as_str()),
        _ => {
            eprintln!("usage: loadgen URL KEYS_FILE RATE_PER_SEC SECONDS [CONNECTIONS]");
            std::process::exit(2);
        }
    };
    let rate: f64 = rate.parse().expect("RATE_PER_SEC is a number");
    let seconds: f64 = seconds.parse().expect("SECONDS is a number");
    let connections: usize = connections.parse().expect("CONNECTIONS is a number");
    let devices: Arc<Vec<(String, String)>> = Arc::new(
        std::fs::read_to_string(keys_file)
            .expect("read KEYS_FILE")
            .lines()
            .filter_map(|l| l.split_once(','))
            .map(|(id, key)| {
                (
                    format!("{url}/api/v1/devices/{id}/heartbeat"),
                    key.to_owned(),
                )
            })
            .collect(),
    );
    assert!(!devices.is_empty(), "KEYS_FILE has no id,key lines");

    let total = (rate * seconds) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let next = Arc::new(AtomicU64::new(0));
    let started = tokio::time::Instant::now() + Duration::from_millis(50);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (devices, next) = (devices.clone(), next.clone());
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
                    let (url, key) = &devices[k as usize % devices.len()];
                    let ok = client
                        .put(url)
                        .bearer_auth(key)
                        .header("content-type", "application/json")
                        .body(r#"{"status":"active","metrics":{"battery_level":85}}"#)
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    seen.push((due.elapsed(), ok));
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total as usize);
    let mut failed = 0u64;
    for worker in workers {
        for (latency, ok) in worker.await.unwrap() {
            latencies.push(latency);
            failed += u64::from(!ok);
        }
    }
    latencies.sort();
    let pct = |p: f64| {
        let i =
            ((latencies.len() as f64 * p / 100.0).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "RESULT sent={} non2xx={failed} rate={rate:.0} p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        latencies.len(),
        pct(50.0),
        pct(99.0),
        pct(99.9),
        pct(100.0)
    );
}
