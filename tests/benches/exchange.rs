//! What the access audit log costs the data exchange: `Exchange/Fetch`
//! throughput with the audit log on against off, in the same run.
//!
//! Real processes on loopback: the simulated fleet (16 departments,
//! verifying the gateway's signatures) and two secured gateways built with
//! `cargo build --release -p onestop`, identical but for
//! `[sharing.audit] enabled = false` on one, each on its own SQLite store.
//! On each, `hpf` holds an approved agreement for all fields of
//! `hrss.social_insurance` (purpose `housing-loan-review`) and the 10
//! citizens every department knows have consented. Every fetch therefore
//! does the whole job: agreement and consent read from the store, the
//! provider read through the public listener (routing, signing), field
//! filtering and masking, and (audit on) one audit record, written in
//! batches off the request path.
//!
//! `CONCURRENCY` tonic clients (one HTTP/2 connection each) fetch in a
//! loop for `SECONDS` per round, after a `WARMUP` second unmeasured; the
//! rounds alternate on, off, on, off, … (`ROUNDS` each), so drift on the
//! machine hits both alike. Printed: each round's fetches/s and p50/p99,
//! the median of each side, and the cost (1 − on/off). The target: < 10 %.
//! `AUDIT_FLUSH=<duration>` sets the audited gateway's
//! `[sharing.audit] flush_interval` (default 200ms), to compare.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use onestop_tests::registry::issue_token;
use onestop_tests::secure::Secure;
use onestop_tests::sharing::{Consumer, approve, consent};
use onestop_tests::{Gateway, Sim, median, percentile};

const ITEM: &str = "hrss.social_insurance";
const PURPOSE: &str = "housing-loan-review";
const FIELDS: [&str; 8] = [
    "resident_id",
    "name",
    "employer",
    "contribution_months",
    "monthly_base",
    "last_paid_period",
    "bank_card",
    "phone",
];
const CONCURRENCY: usize = 16;
const SECONDS: u64 = 5;
const WARMUP: u64 = 1;
const ROUNDS: usize = 5;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// A gateway in front of `sim`, with the agreement approved and every
/// known citizen's consent given; its consumer client and citizens.
async fn gateway(sim: &Sim, secure: &Secure, audit: bool) -> (Gateway, Consumer, Vec<String>) {
    let mut extra = secure.gateway_toml(&[]);
    if !audit {
        extra.push_str("\n[sharing.audit]\nenabled = false\n");
    } else if let Ok(flush) = std::env::var("AUDIT_FLUSH") {
        extra.push_str(&format!(
            "\n[sharing.audit]\nflush_interval = \"{flush}\"\n"
        ));
    }
    let gw = secure.citizens_gateway(&sim.manifest, extra).await;
    let hpf = Consumer::connect(gw.control, &issue_token(&gw, "hpf").await).await;
    let a = hpf
        .apply(ITEM, &FIELDS, &[], PURPOSE, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(approve(&gw, &a.id).await, "approved");
    let citizens: Vec<String> = sim.manifest.citizens[..10]
        .iter()
        .map(|c| c.id.clone())
        .collect();
    for c in &citizens {
        consent(&secure.client(Some(c)), &gw, "hpf", PURPOSE).await;
        let (data, _) = hpf.fetch(ITEM, c, PURPOSE).await.unwrap();
        assert_eq!(data.as_object().unwrap().len(), FIELDS.len(), "{data}");
    }
    (gw, hpf, citizens)
}

/// CPU time (user + system) the process `pid` has used.
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command (which may hold spaces) end with ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 of `rest` (from 0).
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// One round: fetches/s and every fetch's latency.
async fn round(consumer: &Consumer, citizens: &[String], seconds: u64) -> (f64, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CONCURRENCY {
        // A connection per client.
        let consumer = consumer.reconnect().await;
        let citizens = citizens.to_vec();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut n = i;
            while !stop.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                consumer
                    .fetch(ITEM, &citizens[n % citizens.len()], PURPOSE)
                    .await
                    .unwrap();
                samples.push(t0.elapsed());
                n += 1;
            }
            samples
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (rate, all)
}

async fn run() {
    let secure = Secure::new();
    let sim = Sim::start_signed(16, 50, Some(&secure.signing_key_hex)).await;
    let (on_gw, on, citizens) = gateway(&sim, &secure, true).await;
    let (off_gw, off, _) = gateway(&sim, &secure, false).await;
    println!(
        "exchange: {ITEM} ({} fields, masked by default), {CONCURRENCY} concurrent clients, {SECONDS} s rounds alternating audit on/off",
        FIELDS.len()
    );
    let (mut on_rates, mut off_rates) = (Vec::new(), Vec::new());
    let (mut on_cpu, mut off_cpu) = (Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        for (label, consumer, gw, rates, cpus) in [
            ("on ", &on, &on_gw, &mut on_rates, &mut on_cpu),
            ("off", &off, &off_gw, &mut off_rates, &mut off_cpu),
        ] {
            round(consumer, &citizens, WARMUP).await;
            let pid = gw.proc.pid();
            let cpu0 = cpu(pid);
            let (rate, samples) = round(consumer, &citizens, SECONDS).await;
            let per = (cpu(pid) - cpu0).as_secs_f64() * 1e6 / samples.len() as f64;
            println!(
                "round {} audit {label}: {rate:>8.0} fetches/s  p50 {:>6.2} ms  p99 {:>6.2} ms  gateway CPU {per:>4.0} µs/fetch  (n={})",
                r + 1,
                percentile(&samples, 0.5),
                percentile(&samples, 0.99),
                samples.len()
            );
            rates.push(rate);
            cpus.push(per);
        }
    }
    let on_median = median(&mut on_rates);
    let off_median = median(&mut off_rates);
    let cost = 1.0 - on_median / off_median;
    println!(
        "gateway CPU per fetch (median): audit on {:.0} µs, off {:.0} µs",
        median(&mut on_cpu),
        median(&mut off_cpu)
    );
    println!(
        "median: audit on {on_median:.0}/s, off {off_median:.0}/s; the audit log costs {:.1} % of exchange throughput (target < 10 %)",
        cost * 100.0
    );
    let written = on_gw
        .metric("onestop_audit_written_total")
        .await
        .unwrap_or(0.0);
    println!("audit records written by the audited gateway: {written:.0}");
    assert!(written > 0.0, "the audited gateway wrote no audit records");
}
