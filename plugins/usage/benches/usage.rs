//! Usage plugin benchmark (`cargo bench -p cliproxy-plugin-usage`, or
//! `bench/usage.sh`): the cost of recording one usage record (turning the
//! host's record into a detail, counting it, and the batched SQLite writes
//! the host's half-second flushes cause), the process's resident memory
//! with 100,000 and 1,000,000 details recorded, and the time of `GET
//! /usage` and of opening the store at both sizes. Figures go to stdout.

use std::time::{Duration, Instant};

use cliproxy_sdk::{TokenUsage, UsageRecord};
use usage::config::Settings;
use usage::state::Usage;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn record(i: u64) -> UsageRecord {
    let t = chrono::Local::now() - chrono::Duration::seconds(i as i64 % (90 * 86_400));
    UsageRecord {
        api: format!("sk-client-{}", i % 8).into(),
        model: [
            "gemini-2.5-pro",
            "claude-sonnet-4-5",
            "gpt-5",
            "gpt-4o-mini",
        ][(i % 4) as usize]
            .into(),
        provider: "gemini".into(),
        timestamp: t
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
            .into(),
        source: format!("user{}@example.com", i % 20).into(),
        auth_index: format!("{:016x}", i % 20).into(),
        failed: i.is_multiple_of(50),
        latency_ms: (i % 3000) as i64,
        tokens: TokenUsage {
            input_tokens: 1000 + (i % 500) as i64,
            output_tokens: 200 + (i % 300) as i64,
            reasoning_tokens: 0,
            cached_tokens: 0,
            total_tokens: 0,
        },
    }
}

fn settings(dir: &std::path::Path) -> Settings {
    Settings {
        enabled: true,
        data_dir: dir.to_path_buf(),
        details_in_memory: usage::config::DEFAULT_DETAILS_IN_MEMORY,
        retention_days: 0,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut u = Usage::new(Box::new(|_, m| eprintln!("{m}")));
    u.configure(settings(dir.path()));
    println!("RSS before recording: {:.1} MiB", rss_mib());
    let mut recorded = 0u64;
    for target in [100_000u64, 1_000_000] {
        // Records are made one at a time (as the host hands them over) and
        // only the plugin's work is timed.
        let mut spent = Duration::ZERO;
        let mut last_flush = Instant::now();
        for i in recorded..target {
            let r = record(i);
            let t = Instant::now();
            u.record(usage::detail_of(&r));
            // What the host's records worker does: flush every half second.
            if last_flush.elapsed() >= Duration::from_millis(500) {
                u.flush();
                last_flush = Instant::now();
            }
            spent += t.elapsed();
        }
        let t = Instant::now();
        u.flush();
        spent += t.elapsed();
        let n = (target - recorded) as f64;
        recorded = target;
        println!(
            "recorded {target}: {:.2} µs per record (incl. SQLite writes), RSS {:.1} MiB",
            spent.as_secs_f64() * 1e6 / n,
            rss_mib()
        );
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let t = Instant::now();
            size = u.snapshot_json().len();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "GET /usage at {target}: median {:.1} ms ({:.1} MiB body, {} details shown)",
            times[2].as_secs_f64() * 1e3,
            size as f64 / 1048576.0,
            usage::config::DEFAULT_DETAILS_IN_MEMORY.min(target as usize)
        );
        if target < 1_000_000 {
            continue;
        }
        let t = Instant::now();
        let mut reopened = Usage::new(Box::new(|_, m| eprintln!("{m}")));
        reopened.configure(settings(dir.path()));
        println!(
            "opening the store at {target} (integrity check + loading): {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let db = std::fs::metadata(dir.path().join("usage.db")).map_or(0, |m| m.len());
    println!("store file: {:.0} MiB", db as f64 / 1048576.0);
}
