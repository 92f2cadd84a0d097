//! Transcoding costs per request: the binding lookup, `Method::request`
//! from a typical JSON body (and from path + query), and `to_json` of a
//! typical response.
//!
//! `cargo bench -p onestop-transcode --bench transcode`

#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{echo, method, sim_set};
use criterion::{Criterion, criterion_group, criterion_main};
use onestop_transcode::prost_reflect::{DynamicMessage, Value};
use onestop_transcode::{
    Binding, BodyRule, FieldPath, Lookup, PathTemplate, Table, compile, to_json,
};

/// A tax return as a citizen's app would send it (~300 bytes).
const FILE_RETURN: &str = r#"{"year":2024,"declaredIncomeFen":"18650000","requestRefund":true,
"deductions":[{"kind":"DEDUCTION_KIND_HOUSING_RENT","amountFen":"1800000","description":"重庆 租房"},
{"kind":"DEDUCTION_KIND_ELDERLY_SUPPORT","amountFen":"3600000","description":"赡养老人"},
{"kind":"DEDUCTION_KIND_CHILD_EDUCATION","amountFen":"2400000","description":"子女教育"}]}"#;

fn request(c: &mut Criterion) {
    let tax = compile(sim_set(), "onestop.sim.tax.v1.TaxBureau").unwrap();
    let file = method(&tax, "FileReturn");
    let binding = Binding {
        verb: http::Method::POST,
        template: PathTemplate::parse("/api/v1/depts/tax/citizens/{citizen_id}/returns").unwrap(),
        body: BodyRule::Whole,
        response_body: None,
    };
    let params = vec![(
        FieldPath::parse("citizen_id").unwrap(),
        "110101199003077777".to_owned(),
    )];
    assert!(
        file.request(&binding, &params, None, FILE_RETURN.as_bytes())
            .is_ok()
    );
    c.bench_function("request/json_body", |b| {
        b.iter(|| {
            file.request(
                &binding,
                black_box(&params),
                None,
                black_box(FILE_RETURN.as_bytes()),
            )
            .unwrap()
        })
    });

    let svc = echo();
    let get = method(&svc, "GetThing");
    let params = vec![
        (FieldPath::parse("shelf").unwrap(), "s1".to_owned()),
        (FieldPath::parse("ref.id").unwrap(), "t-42".to_owned()),
    ];
    let query = "verbose=true&tags=a&tags=b&color=COLOR_RED&limit=20&ref.version=3";
    assert!(
        get.request(&get.bindings[0], &params, Some(query), b"")
            .is_ok()
    );
    c.bench_function("request/path_and_query", |b| {
        b.iter(|| {
            get.request(
                &get.bindings[0],
                black_box(&params),
                Some(black_box(query)),
                b"",
            )
            .unwrap()
        })
    });
}

fn response(c: &mut Criterion) {
    let tax = compile(sim_set(), "onestop.sim.tax.v1.TaxBureau").unwrap();
    let summary_type = method(&tax, "GetTaxSummary").output.clone();
    let deduction_type = summary_type
        .parent_pool()
        .get_message_by_name("onestop.sim.tax.v1.Deduction")
        .unwrap();
    let mut summary = DynamicMessage::new(summary_type);
    for (name, value) in [
        ("citizen_id", Value::String("110101199003077777".into())),
        ("year", Value::I32(2024)),
        ("income_fen", Value::I64(18_650_000)),
        ("tax_paid_fen", Value::I64(412_000)),
        ("tax_due_fen", Value::I64(365_000)),
        ("balance_fen", Value::I64(47_000)),
        ("status", Value::EnumNumber(2)),
        ("filed", Value::Bool(true)),
        ("withholder_count", Value::I32(2)),
    ] {
        summary.set_field_by_name(name, value);
    }
    let deductions = (1..=3)
        .map(|kind| {
            let mut d = DynamicMessage::new(deduction_type.clone());
            d.set_field_by_name("kind", Value::EnumNumber(kind));
            d.set_field_by_name("amount_fen", Value::I64(1_200_000 * i64::from(kind)));
            d.set_field_by_name("description", Value::String("专项附加扣除".into()));
            Value::Message(d)
        })
        .collect();
    summary.set_field_by_name("deductions", Value::List(deductions));
    println!("to_json output: {} bytes", to_json(&summary, None).len());
    c.bench_function("to_json/tax_summary", |b| {
        b.iter(|| to_json(black_box(&summary), None))
    });
}

fn lookup(c: &mut Criterion) {
    let set = sim_set();
    let services: Vec<_> = set.services().map(|s| compile(set, &s).unwrap()).collect();
    let table = Table::new(services.into_iter().chain([echo()])).unwrap();
    let path = "/v1/shelves/s1/things/t-42";
    assert!(matches!(
        table.find(&http::Method::GET, path),
        Lookup::Found { .. }
    ));
    c.bench_function("table/find", |b| {
        b.iter(|| table.find(black_box(&http::Method::GET), black_box(path)))
    });
}

criterion_group!(benches, request, response, lookup);
criterion_main!(benches);
