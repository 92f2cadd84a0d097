//! The demo data catalog on real sockets: the manifest lists every item
//! with the matter serving it, and each item's `fetch` path answers the
//! declared fields with their declared types, plus undeclared members.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use onestop_sim::{
    CITIZEN_HEADER, Fleet, FleetOptions, catalog, citizens,
    manifest::{DataItemManifest, FieldType, Protocol},
};
use serde_json::Value;
use support::*;

/// The first 13 departments: through police, with every data item.
async fn start_thirteen() -> Fleet {
    Fleet::start(FleetOptions {
        departments: 13,
        citizens: 50,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

#[tokio::test]
async fn the_manifest_lists_the_catalog_and_its_matters() {
    let fleet = start_thirteen().await;
    let m = fleet.manifest();
    let listed: Vec<(String, DataItemManifest)> = m
        .departments
        .iter()
        .flat_map(|d| d.data_items.iter().map(|i| (d.id.clone(), i.clone())))
        .collect();
    let catalog: Vec<(String, DataItemManifest)> = catalog::data_items()
        .into_iter()
        .map(|i| (i.dept.to_owned(), i.item))
        .collect();
    assert_eq!(listed, catalog);
    for d in &m.departments {
        let ids: Vec<&str> = d.data_items.iter().map(|i| i.id.as_str()).collect();
        let expected: &[&str] = match d.id.as_str() {
            "hrss" => &["social_insurance", "insured_status"],
            "hpf" => &["account"],
            "civil" => &["marital_status"],
            "police" => &["household", "criminal_record"],
            _ => &[],
        };
        assert_eq!(ids, expected, "{}", d.id);
        assert_eq!(
            catalog::department_data_items(&d.id),
            d.data_items,
            "{}",
            d.id
        );
        if d.protocol == Protocol::Grpc {
            assert!(d.matters.iter().all(|x| x.data_item.is_none()));
        }
        // Exactly one matter serves each item, at the item's fetch path.
        for item in &d.data_items {
            let serving: Vec<_> = d
                .matters
                .iter()
                .filter(|x| x.data_item.as_deref() == Some(item.id.as_str()))
                .collect();
            assert_eq!(serving.len(), 1, "{}.{}", d.id, item.id);
            let matter = serving[0];
            assert_eq!(matter.id, format!("data-{}", item.id.replace('_', "-")));
            assert_eq!(matter.path, item.fetch);
            assert_eq!(matter.method, "GET");
            assert_eq!(matter.citizen_param.as_deref(), Some("citizen"));
        }
        assert_eq!(
            d.matters.iter().filter(|x| x.data_item.is_some()).count(),
            d.data_items.len()
        );
    }
    // The manifest's JSON carries the catalog.
    let json = serde_json::to_value(m).unwrap();
    assert_eq!(
        json["departments"][0]["data_items"][0]["id"],
        "social_insurance"
    );
    assert_eq!(
        json["departments"][0]["data_items"][0]["fields"][0],
        serde_json::json!({
            "name": "resident_id",
            "type": "string",
            "sensitivity": "sensitive",
            "mask": "resident_id",
        })
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn every_item_answers_its_declared_fields_and_more() {
    let fleet = start_thirteen().await;
    let m = fleet.manifest();
    let http = client();
    for entry in catalog::data_items() {
        let d = dept(m, entry.dept);
        let item = &entry.item;
        // Those every department knows.
        let known = &m.citizens[..citizens::KNOWN_EVERYWHERE];
        for (n, citizen) in known.iter().enumerate() {
            // Every instance answers the same document.
            let addr = d.instances[n % d.instances.len()].addr;
            let path = item.fetch.replace("{citizen}", &citizen.id);
            let doc = get_json(&http, addr, &path).await;
            let what = format!("GET {path}: {doc}");
            let obj = doc.as_object().expect("a JSON object");
            for field in &item.fields {
                let value = obj.get(&field.name).unwrap_or(&Value::Null);
                assert!(
                    field.kind.admits(value),
                    "{what}: `{}` is not a {}",
                    field.name,
                    field.kind.as_str()
                );
                if field.kind == FieldType::Date {
                    assert_eq!(value.as_str().map(str::len), Some(10), "{what}");
                }
            }
            if item.fields.iter().any(|f| f.name == "resident_id") {
                assert_eq!(obj["resident_id"], citizen.id.as_str(), "{what}");
            }
            let undeclared: Vec<&String> = obj
                .keys()
                .filter(|k| !item.fields.iter().any(|f| &f.name == *k))
                .collect();
            assert!(
                undeclared.iter().any(|k| k.as_str() != "citizen_id"),
                "{what}"
            );
        }
        // `me` with the gateway's header, and the usual 404.
        let citizen = &m.citizens[0];
        let me = item.fetch.replace("{citizen}", "me");
        let res = http
            .get(url(d.instances[0].addr, &me))
            .header(CITIZEN_HEADER, &citizen.id)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{me}");
        let res = http
            .get(url(
                d.instances[0].addr,
                &item.fetch.replace("{citizen}", "11010519491231002X"),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "CITIZEN_NOT_FOUND");
    }
    // The overview leaves data items out.
    let police = dept(m, "police");
    let overview = get_json(
        &http,
        police.instances[0].addr,
        &format!("/api/v1/depts/police/overview/{}", m.citizens[0].id),
    )
    .await;
    let summary = overview["summary"].as_object().unwrap();
    assert!(summary.contains_key("household"), "{overview}");
    assert!(
        !summary.keys().any(|k| k.starts_with("data-")),
        "{overview}"
    );
    fleet.shutdown().await;
}
