//! How long `TestServer::start()` takes: starts N servers one after another (keeping
//! them all running, as a test suite would), then prints the median, p99 and maximum.
//! `cargo run --release --example startup_time -- 200`

use std::time::{Duration, Instant};

use devreg::testing::TestServer;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(200);
    let mut servers = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let all = Instant::now();
    for _ in 0..n {
        let started = Instant::now();
        servers.push(TestServer::start().await);
        times.push(started.elapsed());
    }
    let total = all.elapsed();

    // Every one of them serves.
    let client = reqwest::Client::new();
    for server in &servers {
        let status = client
            .get(format!("{}/healthz", server.url()))
            .send()
            .await
            .expect("request")
            .status();
        assert!(status.is_success());
    }

    times.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{n} TestServers started: median {:.2} ms, p99 {:.2} ms, max {:.2} ms, total {:.0} ms",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(times[times.len() - 1]),
        ms(total)
    );
}
