//! No unmasked resident ID or mobile number reaches the gateway's log: a
//! citizen's ID in the path of a citizen route (answered 200, and 404 for
//! another citizen's token), a mobile number in the query, a header and
//! the path, an unknown app key (401) and a path no route matches (404) are
//! all logged, and the log holds only their masked forms.

use std::time::Duration;

use onestop_core::mask;
use onestop_tests::secure::Secure;
use onestop_tests::{Sim, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_log_holds_only_masked_ids_and_phones() {
    let secure = Secure::new();
    let sim = Sim::start_signed(2, 50, Some(&secure.signing_key_hex)).await;
    let gw = secure.gateway(&sim, &[], &[], "").await;
    let citizen = sim.manifest.citizens[0].clone();
    let other = sim.manifest.citizens[1].id.clone();
    let (id, phone) = (citizen.id.as_str(), citizen.phone.as_str());
    assert!(mask::is_resident_id(id), "{id}");
    assert_eq!(mask::find_unmasked(phone).len(), 1, "{phone}");
    let dept = &sim.manifest.departments[0];
    let matter = dept
        .matters
        .iter()
        .find(|m| m.method == "GET" && m.citizen_param.is_some())
        .expect("a citizen GET matter");
    let param = format!("{{{}}}", matter.citizen_param.as_deref().unwrap_or(""));
    let citizen_path = matter.path.replace(&param, id);
    assert!(citizen_path.contains(id), "{citizen_path}");

    // The citizen's own route, with the phone in the query and a header.
    let http = secure.client(Some(id));
    let r = http
        .get(gw.url(&format!("{citizen_path}?phone={phone}")))
        .header("x-contact-phone", phone)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // Another citizen's token on this citizen's path: 404.
    let r = secure
        .client(Some(&other))
        .get(gw.url(&citizen_path))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // An unknown app key, the ID and the phone (with +86) in the path: 401.
    let r = onestop_tests::client()
        .get(gw.url(&format!(
            "/api/v1/depts/{}/citizens/{id}/phones/+86{phone}",
            dept.id
        )))
        .header("x-onestop-app-key", "not-a-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A path no route matches, the phone in it: 404.
    let r = http
        .get(gw.url(&format!("/api/v1/depts/{}/contacts/{phone}", dept.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let (masked_id, masked_phone) = (mask::resident_id(id), mask::phone(phone));
    let logged = wait_for(Duration::from_secs(10), || {
        let log = gw.log();
        let done = log.matches(&masked_id).count() >= 3 && log.matches(&masked_phone).count() >= 2;
        async move { done }
    })
    .await;
    let log = gw.log();
    assert!(
        logged.is_some(),
        "the requests were not logged with {masked_id} and {masked_phone}:\n{log}"
    );
    let unmasked = mask::find_unmasked(&log);
    println!(
        "gateway log: {} lines; masked ID {masked_id} ×{}, masked phone {masked_phone} ×{}; unmasked: {}",
        log.lines().count(),
        log.matches(&masked_id).count(),
        log.matches(&masked_phone).count(),
        unmasked.len()
    );
    assert!(unmasked.is_empty(), "{} unmasked", unmasked.len());
    assert!(!log.contains(id) && !log.contains(phone));
    // Every line is still one JSON object.
    for line in log.lines().filter(|l| l.starts_with('{')) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
}
