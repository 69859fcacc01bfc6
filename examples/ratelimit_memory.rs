//! How much memory the rate limiter holds after a million distinct keys were each used
//! once, and after cleanup ran: prints the process's resident set (VmRSS) at each step.
//!
//! `cargo run --release --example ratelimit_memory [N]` (N defaults to 1,000,000).

use std::time::{Duration, Instant};

use devreg::Config;
use devreg::domain::{ApiKey, KeyKind};
use devreg::ratelimit::{RateLimitClock, RateLimits};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kib / 1024.0
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(1_000_000);
    let clock = RateLimitClock::default();
    let config = Config {
        rate_limit_clock: clock.clone(),
        ..Config::ephemeral()
    };
    let limits = RateLimits::from_config(&config).expect("default limits are valid");
    println!("start:            RSS {:7.1} MiB", rss_mib());

    let started = Instant::now();
    for _ in 0..n {
        limits.charge_key(&ApiKey::generate(KeyKind::Device));
    }
    println!(
        "after {n} keys: RSS {:7.1} MiB, {} buckets ({:.1} s)",
        rss_mib(),
        limits.tracked(),
        started.elapsed().as_secs_f64()
    );

    // A device key used once is full again 0.6 s later (100 per minute); the next cleanup
    // finds every bucket full.
    clock.advance(Duration::from_secs(2));
    let started = Instant::now();
    limits.cleanup();
    println!(
        "after cleanup:    RSS {:7.1} MiB, {} buckets (cleanup took {:.0} ms)",
        rss_mib(),
        limits.tracked(),
        started.elapsed().as_secs_f64() * 1000.0
    );
}
