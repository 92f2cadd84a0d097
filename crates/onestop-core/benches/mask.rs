//! Masking: `redact_text` on a typical JSON access-log line (the cost every
//! log line pays), and each field masker.
//!
//! `cargo bench -p onestop-core --bench mask`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use onestop_core::mask::{self, Kind};

/// A JSON access-log line as the gateway writes it, ~300 bytes, with
/// `path` and `note` filled in.
fn access_line(path: &str, note: &str) -> String {
    format!(
        r#"{{"timestamp":"2025-06-01T08:00:00.123456Z","level":"INFO","target":"onestop::access","request_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","method":"GET","path":"{path}","dept":"hpf","route":"balance","status":200,"upstream":"127.0.0.1:40123","attempts":1,"duration_ms":1.234567,"upstream_ms":0.987654,"cache":"MISS"{note}}}"#
    )
}

fn redact(c: &mut Criterion) {
    let clean = access_line("/api/v1/depts/hpf/accounts/me", "");
    let dirty = access_line(
        "/api/v1/depts/hpf/accounts/110101199003077774",
        r#","note":"手机13812345678""#,
    );
    assert_eq!(mask::find_unmasked(&clean).len(), 0);
    assert_eq!(mask::find_unmasked(&dirty).len(), 2);
    println!(
        "line lengths: clean {} bytes, with an ID and a phone {} bytes",
        clean.len(),
        dirty.len()
    );
    let mut g = c.benchmark_group("redact_text");
    g.bench_function("access_line_no_match", |b| {
        b.iter(|| mask::redact_text(black_box(&clean)))
    });
    g.bench_function("access_line_id_and_phone", |b| {
        b.iter(|| mask::redact_text(black_box(&dirty)))
    });
    let mut buf = dirty.clone().into_bytes();
    g.bench_function("in_place_id_and_phone", |b| {
        b.iter(|| {
            buf.copy_from_slice(dirty.as_bytes());
            mask::redact_in_place(black_box(&mut buf))
        })
    });
    g.finish();
}

fn fields(c: &mut Criterion) {
    let mut g = c.benchmark_group("field");
    let cases = [
        (Kind::ResidentId, "11010519491231002X"),
        (Kind::Phone, "+8613812345678"),
        (Kind::Name, "欧阳娜娜"),
        (Kind::BankCard, "6222021234567890123"),
        (Kind::Address, "浙江省杭州市西湖区文三路90号"),
        (Kind::Full, "anything"),
    ];
    for (kind, value) in cases {
        g.bench_function(kind.as_str(), |b| {
            b.iter(|| mask::apply(kind, black_box(value)))
        });
    }
    g.bench_function("is_resident_id", |b| {
        b.iter(|| mask::is_resident_id(black_box("11010519491231002X")))
    });
    g.finish();
}

criterion_group!(benches, redact, fields);
criterion_main!(benches);
