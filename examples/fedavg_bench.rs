//! Measures federated averaging at scale: the time and memory to aggregate 1,000 updates of
//! 100,000 floats each, and the upload throughput of parts. Not a test: run it in release
//! and read the figures (docs/performance.md has the ones measured).
//!
//! `cargo run --release --example fedavg_bench [UPDATES] [FLOATS] [UPLOAD_MIB]`
//!
//! Aggregation runs exactly what completing an upload runs for each update, minus the
//! HTTP and SQLite I/O: open the envelope (SHA-256 of its `data` bytes, parse 100,000
//! numbers), read the round's running sum from its blob, add the weighted update, write
//! the blob back; at the end one division. Throughput PUTs parts of a real upload to an
//! in-process devreg (in memory) over loopback HTTP.

use std::time::Instant;

use devreg::federation;
use devreg::testing::TestServer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// An envelope as Python's `encrypt_update` writes it, for update `seed`.
fn envelope(seed: usize, floats: usize) -> Vec<u8> {
    let items: Vec<String> = (0..floats)
        .map(|i| format!("{:?}", ((seed * 31 + i) % 1000) as f64 / 997.0 - 0.5))
        .collect();
    let data = format!("[{}]", items.join(", "));
    let digest: String = Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{{\"format\": \"plaintext_json\", \"sha256\": \"{digest}\", \"size\": {}, \"data\": {data}}}",
        data.len()
    )
    .into_bytes()
}

fn aggregate(updates: usize, floats: usize) {
    // Envelopes are made ahead, a few reused, so making them is not what is timed.
    let made: Vec<Vec<u8>> = (0..8).map(|s| envelope(s, floats)).collect();
    let before = peak_rss_mib();
    let mut blob = federation::to_blob(&vec![0.0; floats]);
    let (mut open_secs, mut add_secs) = (0.0, 0.0);
    let mut total_weight = 0.0;
    let started = Instant::now();
    for u in 0..updates {
        let t = Instant::now();
        let update = federation::open_envelope(&made[u % made.len()]).expect("valid envelope");
        open_secs += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let weight = (u % 50 + 1) as f64;
        let mut sum = federation::from_blob(&blob);
        federation::add_weighted(&mut sum, &update, weight).expect("a finite sum");
        blob = federation::to_blob(&sum);
        total_weight += weight;
        add_secs += t.elapsed().as_secs_f64();
    }
    let mean = federation::mean(&federation::from_blob(&blob), total_weight);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "aggregate {updates} updates x {floats} floats ({:.1} MB of envelope each): {secs:.2} s \
         ({:.2} ms/update: open+verify {:.2} ms, sum {:.2} ms); peak RSS {:.1} MiB \
         ({:.1} MiB before; aggregate[0] = {:.6})",
        made[0].len() as f64 / 1e6,
        secs * 1000.0 / updates as f64,
        open_secs * 1000.0 / updates as f64,
        add_secs * 1000.0 / updates as f64,
        peak_rss_mib(),
        before,
        mean[0]
    );
}

async fn throughput(upload_mib: u64) {
    let part_bytes: u64 = 8 * 1024 * 1024;
    let server = TestServer::builder()
        .config(|c| {
            c.upload_part_bytes = part_bytes;
            c.upload_max_bytes = upload_mib * 1024 * 1024 + 1024 * 1024;
        })
        .start()
        .await;
    let client = reqwest::Client::new();
    let secret = server.secret_key().to_owned();
    let round: Value = client
        .post(format!("{}/api/v1/training/rounds", server.url()))
        .bearer_auth(&secret)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let round_id = round["id"].as_str().unwrap();
    let device = server.register_device("bench-device").await;
    client
        .post(format!(
            "{}/api/v1/federation/rounds/{round_id}/join",
            server.url()
        ))
        .bearer_auth(&device.api_key)
        .json(&json!({"participation_id": "bench"}))
        .send()
        .await
        .unwrap();
    let size = upload_mib * 1024 * 1024;
    let ticket: Value = client
        .post(format!(
            "{}/api/v1/federation/rounds/{round_id}/uploads",
            server.url()
        ))
        .bearer_auth(&device.api_key)
        .json(&json!({"meta": {"size": size}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let urls: Vec<String> = serde_json::from_value(ticket["part_urls"].clone()).unwrap();
    let chunk = (size as usize) / urls.len();
    let body = vec![b'7'; chunk];
    let started = Instant::now();
    for url in &urls {
        let status = client
            .put(url)
            .bearer_auth(&device.api_key)
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let secs = started.elapsed().as_secs_f64();
    let mib = (chunk * urls.len()) as f64 / (1024.0 * 1024.0);
    println!(
        "parts: {mib:.0} MiB in {} parts of {:.2} MiB in {secs:.2} s: {:.0} MiB/s \
         ({:.1} ms/part); peak RSS {:.1} MiB",
        urls.len(),
        chunk as f64 / (1024.0 * 1024.0),
        mib / secs,
        secs * 1000.0 / urls.len() as f64,
        peak_rss_mib()
    );
    server.stop().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("a number"));
    let updates = args.next().unwrap_or(1000) as usize;
    let floats = args.next().unwrap_or(100_000) as usize;
    let upload_mib = args.next().unwrap_or(256);
    aggregate(updates, floats);
    throughput(upload_mib).await;
}
