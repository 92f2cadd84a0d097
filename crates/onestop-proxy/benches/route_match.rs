//! Route matching cost at 100 and 10,000 routes (issue targets: < 1 µs
//! median at 10,000 routes, and no more than 2× the cost at 100).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Method};
use onestop_proxy::router::{PathPattern, RequestView, RouteMatch, RouteTable};

fn table(n: usize) -> (RouteTable<usize>, Vec<String>) {
    let mut routes = Vec::with_capacity(n);
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let dept = i % 97;
        let (pattern, path) = match i % 3 {
            0 => (
                PathPattern::Exact(format!("/api/v1/depts/d{dept}/items/{i}")),
                format!("/api/v1/depts/d{dept}/items/{i}"),
            ),
            1 => (
                PathPattern::Template(format!("/api/v1/depts/d{dept}/t{i}/{{citizen}}")),
                format!("/api/v1/depts/d{dept}/t{i}/500101199001011234"),
            ),
            _ => (
                PathPattern::Prefix(format!("/api/v1/depts/d{dept}/p{i}")),
                format!("/api/v1/depts/d{dept}/p{i}/records/2025"),
            ),
        };
        routes.push((
            RouteMatch {
                path: pattern,
                methods: vec![Method::GET],
                host: None,
                headers: vec![],
            },
            i,
        ));
        paths.push(path);
    }
    (RouteTable::new(routes), paths)
}

fn bench(c: &mut Criterion) {
    let headers = HeaderMap::new();
    let mut group = c.benchmark_group("route_match");
    for n in [100usize, 10_000] {
        let (t, paths) = table(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 7919) % paths.len();
                let req = RequestView {
                    method: &Method::GET,
                    host: None,
                    path: &paths[i],
                    headers: &headers,
                };
                black_box(t.find(black_box(&req)).map(|m| *m.value))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
