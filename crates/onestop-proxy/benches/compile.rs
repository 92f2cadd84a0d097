//! Configuration cost at 10,000 routes (100 departments × 100 routes: exact,
//! prefix and template routes, some with a canary split or a header regex;
//! instances on loopback ports nobody listens on, no health checks).
//! Targets: parse + validate < 1 s, compile < 1 s.
//!
//! - `config/parse_validate`: `parse_sources` (TOML parse + `validate`) of the text.
//! - `config/compile_fresh`: `Compiler::compile` with a new compiler (start-up).
//! - `config/compile_unchanged`: recompiling the same configuration (a reload
//!   that keeps every upstream and department runtime).

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use onestop_config::{Source, parse_sources};
use onestop_proxy::Compiler;

const DEPARTMENTS: usize = 100;
const ROUTES_PER_DEPARTMENT: usize = 100;

fn department(d: usize) -> String {
    let mut text = format!(
        "[department]\nid = \"d{d}\"\nname = \"部门 {d}\"\nmax_concurrency = 256\n\n\
         [[services]]\nid = \"api\"\ninstances = [{{ addr = \"127.0.0.1:{}\" }}, {{ addr = \"127.0.0.1:{}\", weight = 2 }}]\n\n\
         [[services]]\nid = \"api-v2\"\nlb = \"consistent_hash\"\ninstances = [{{ addr = \"127.0.0.1:{}\" }}]\n",
        20_000 + d * 3,
        20_001 + d * 3,
        20_002 + d * 3,
    );
    for r in 0..ROUTES_PER_DEPARTMENT {
        let _ = write!(
            text,
            "\n[[routes]]\nid = \"r{r}\"\nname = \"事项 {d}-{r}\"\n"
        );
        let _ = match r % 3 {
            0 => writeln!(text, "path = \"/api/v1/depts/d{d}/items/{r}\""),
            1 => writeln!(
                text,
                "template = \"/api/v1/depts/d{d}/t{r}/{{citizen}}\"\ncitizen_param = \"citizen\"\nmethods = [\"GET\"]"
            ),
            _ => writeln!(text, "prefix = \"/api/v1/depts/d{d}/p{r}\""),
        };
        if r % 7 == 0 {
            let _ = writeln!(
                text,
                "headers = [{{ name = \"x-app\", regex = \"gov-[a-z]+\" }}]"
            );
        }
        let _ = if r % 10 == 0 {
            writeln!(
                text,
                "split = [{{ service = \"api\", weight = 90 }}, {{ service = \"api-v2\", weight = 10 }}]"
            )
        } else {
            writeln!(text, "service = \"api\"\ntimeout = \"3s\"")
        };
    }
    text
}

fn sources() -> (Source, Vec<Source>) {
    let gateway = Source::new("onestop.toml", "[defaults]\ntimeout = \"10s\"\n");
    let departments = (0..DEPARTMENTS)
        .map(|d| Source::new(format!("departments/d{d:03}.toml"), department(d)))
        .collect();
    (gateway, departments)
}

fn bench(c: &mut Criterion) {
    let (gateway, departments) = sources();
    let bytes: usize = departments.iter().map(|s| s.text.len()).sum();
    let config = match parse_sources(Some(gateway.clone()), departments.clone()) {
        Ok(config) => config,
        Err(problems) => panic!("the generated configuration is invalid:\n{problems}"),
    };
    let routes: usize = config.departments.iter().map(|d| d.file.routes.len()).sum();
    assert_eq!(routes, DEPARTMENTS * ROUTES_PER_DEPARTMENT);
    eprintln!(
        "{routes} routes in {} files, {bytes} bytes",
        departments.len()
    );

    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    };
    let mut group = c.benchmark_group("config");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("parse_validate", |b| {
        b.iter_batched(
            || (gateway.clone(), departments.clone()),
            |(g, d)| black_box(parse_sources(Some(g), d).is_ok()),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("compile_fresh", |b| {
        b.iter_batched(
            Compiler::default,
            |mut compiler| {
                let snapshot = rt.block_on(compiler.compile(&config));
                black_box(snapshot.map(|s| s.table.len()).ok())
            },
            BatchSize::PerIteration,
        );
    });
    let mut compiler = Compiler::default();
    group.bench_function("compile_unchanged", |b| {
        b.iter(|| {
            let snapshot = rt.block_on(compiler.compile(&config));
            black_box(snapshot.map(|s| s.table.len()).ok())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
