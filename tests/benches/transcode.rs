//! What JSON↔gRPC transcoding costs against gRPC passthrough: the same
//! unary call, `TaxBureau/GetTaxSummary`, made natively (tonic over h2c to
//! the public port, the gateway passing the gRPC frames through) and
//! transcoded (`GET /api/v1/depts/tax/citizens/{id}/summary`, HTTP/1.1
//! keep-alive, the gateway building the request message from the path and
//! printing the answer as proto3 JSON).
//!
//! Real processes on loopback, built with `cargo build --release -p
//! onestop`: the simulated fleet (9 departments, tax among them) and a
//! gateway (2 worker threads) whose gRPC departments carry the fleet's
//! descriptor set. No identity provider: both sides name the citizen, so
//! what differs between them is the transcoding alone.
//!
//! `CONCURRENCY` clients (one connection each) call in a loop for
//! `SECONDS` per round, after a `WARMUP` second unmeasured; the rounds
//! alternate passthrough, transcoded, … (`ROUNDS` each), so drift on the
//! machine hits both alike. Printed: each round's calls/s, p50/p99 and the
//! gateway's CPU per call, the median of each side and the ratio
//! transcoded/passthrough.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use onestop_sim::pb::tax::{GetTaxSummaryRequest, TaxSummary, tax_bureau_client::TaxBureauClient};
use onestop_tests::grpc::channel;
use onestop_tests::transcode::from_json;
use onestop_tests::{ConfigOptions, Gateway, Sim, median, percentile};

const CONCURRENCY: usize = 16;
const SECONDS: u64 = 5;
const WARMUP: u64 = 1;
const ROUNDS: usize = 5;
const YEAR: i32 = 2024;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Passthrough,
    Transcoded,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Passthrough => "passthrough",
            Side::Transcoded => "transcoded ",
        }
    }
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

fn url(gw: &Gateway, citizen: &str) -> String {
    gw.url(&format!(
        "/api/v1/depts/tax/citizens/{citizen}/summary/{YEAR}"
    ))
}

/// One round: calls/s and every call's latency.
async fn round(
    side: Side,
    gw: &Gateway,
    citizens: &[String],
    seconds: u64,
) -> (f64, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..CONCURRENCY {
        let citizens = citizens.to_vec();
        let stop = stop.clone();
        // A connection per client, opened before the clock starts.
        let grpc = match side {
            Side::Passthrough => Some(TaxBureauClient::new(channel(gw.public).await)),
            Side::Transcoded => None,
        };
        let http = onestop_tests::client_builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let urls: Vec<String> = citizens.iter().map(|c| url(gw, c)).collect();
        if side == Side::Transcoded {
            http.get(&urls[0])
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut n = i;
            let mut grpc = grpc;
            while !stop.load(Ordering::Relaxed) {
                let k = n % citizens.len();
                let t0 = Instant::now();
                match grpc.as_mut() {
                    Some(client) => {
                        client
                            .get_tax_summary(GetTaxSummaryRequest {
                                citizen_id: citizens[k].clone(),
                                year: YEAR,
                            })
                            .await
                            .unwrap();
                    }
                    None => {
                        let r = http.get(&urls[k]).send().await.unwrap();
                        assert_eq!(r.status(), 200);
                        r.bytes().await.unwrap();
                    }
                }
                samples.push(t0.elapsed());
                n += 1;
            }
            samples
        }));
    }
    let started = Instant::now();
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
    let sim = Sim::start(9, 50).await;
    let gw = Gateway::start(&sim.manifest, &ConfigOptions::default()).await;
    let citizens: Vec<String> = sim.manifest.citizens[..10]
        .iter()
        .map(|c| c.id.clone())
        .collect();

    // Both sides answer the same before anything is measured.
    let mut native = TaxBureauClient::new(channel(gw.public).await);
    let http = onestop_tests::client();
    for c in &citizens {
        let want = native
            .get_tax_summary(GetTaxSummaryRequest {
                citizen_id: c.clone(),
                year: YEAR,
            })
            .await
            .unwrap()
            .into_inner();
        let resp = http.get(url(&gw, c)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.bytes().await.unwrap();
        let got: TaxSummary = from_json("onestop.sim.tax.v1.TaxSummary", &body).unwrap();
        assert_eq!(got, want, "transcoded and native answers differ");
    }
    println!(
        "transcode: TaxBureau/GetTaxSummary for {} citizens, {CONCURRENCY} concurrent clients, {SECONDS} s rounds alternating passthrough (gRPC h2c) / transcoded (JSON over HTTP/1.1)",
        citizens.len()
    );

    let (mut pass_rates, mut json_rates) = (Vec::new(), Vec::new());
    let (mut pass_cpu, mut json_cpu) = (Vec::new(), Vec::new());
    let (mut pass_lat, mut json_lat) = (Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        for (side, rates, cpus, lats) in [
            (
                Side::Passthrough,
                &mut pass_rates,
                &mut pass_cpu,
                &mut pass_lat,
            ),
            (
                Side::Transcoded,
                &mut json_rates,
                &mut json_cpu,
                &mut json_lat,
            ),
        ] {
            round(side, &gw, &citizens, WARMUP).await;
            let pid = gw.proc.pid();
            let cpu0 = cpu(pid);
            let (rate, samples) = round(side, &gw, &citizens, SECONDS).await;
            let per = (cpu(pid) - cpu0).as_secs_f64() * 1e6 / samples.len() as f64;
            println!(
                "round {} {}: {rate:>8.0} calls/s  p50 {:>6.2} ms  p99 {:>6.2} ms  gateway CPU {per:>4.0} µs/call  (n={})",
                r + 1,
                side.label(),
                percentile(&samples, 0.5),
                percentile(&samples, 0.99),
                samples.len()
            );
            rates.push(rate);
            cpus.push(per);
            lats.extend(samples);
        }
    }
    let pass = median(&mut pass_rates);
    let json = median(&mut json_rates);
    println!(
        "latency over all rounds: passthrough p50 {:.2} ms p99 {:.2} ms; transcoded p50 {:.2} ms p99 {:.2} ms",
        percentile(&pass_lat, 0.5),
        percentile(&pass_lat, 0.99),
        percentile(&json_lat, 0.5),
        percentile(&json_lat, 0.99)
    );
    println!(
        "gateway CPU per call (median): passthrough {:.0} µs, transcoded {:.0} µs",
        median(&mut pass_cpu),
        median(&mut json_cpu)
    );
    println!(
        "median: passthrough {pass:.0} calls/s, transcoded {json:.0} calls/s; ratio transcoded/passthrough {:.2}",
        json / pass
    );
    assert!(pass > 0.0 && json > 0.0);
}
