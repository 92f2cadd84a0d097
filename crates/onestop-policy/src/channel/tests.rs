#![allow(clippy::unwrap_used)]

use super::*;

fn rule(id: &str, key: &str, routes: &[&str]) -> ChannelRule {
    ChannelRule {
        id: id.into(),
        key_sha256: onestop_core::digest::sha256_hex(key.as_bytes()),
        routes: routes.iter().map(|r| r.to_string()).collect(),
    }
}

fn set() -> ChannelSet {
    ChannelSet::new(vec![
        rule("wechat", "wx-key-1", &["*"]),
        rule("portal", "portal-key", &["hpf/*", "water/bill"]),
        rule("kiosk", "kiosk-key", &[]),
    ])
    .unwrap()
}

#[test]
fn identify_by_key() {
    let s = set();
    assert_eq!(s.identify("wx-key-1").unwrap().id, "wechat");
    assert_eq!(s.identify("portal-key").unwrap().id, "portal");
    assert_eq!(s.identify("kiosk-key").unwrap().id, "kiosk");
    assert!(s.identify("wx-key-2").is_none());
    assert!(s.identify("WX-KEY-1").is_none());
    assert!(s.identify("wx-key-1 ").is_none());
    assert!(s.identify("").is_none());
    // The hash itself is not a key.
    assert!(s.identify(&s.rules()[0].key_sha256).is_none());
    assert!(!s.is_empty());
    assert!(ChannelSet::new(vec![]).unwrap().is_empty());
    assert!(
        ChannelSet::new(vec![])
            .unwrap()
            .identify("wx-key-1")
            .is_none()
    );
}

#[test]
fn upper_case_hash_is_accepted() {
    let mut r = rule("wechat", "k", &["*"]);
    r.key_sha256 = r.key_sha256.to_ascii_uppercase();
    let s = ChannelSet::new(vec![r]).unwrap();
    assert_eq!(s.identify("k").unwrap().id, "wechat");
}

#[test]
fn may_call() {
    let s = set();
    let wechat = s.identify("wx-key-1").unwrap();
    let portal = s.identify("portal-key").unwrap();
    let kiosk = s.identify("kiosk-key").unwrap();
    assert!(wechat.may_call("hpf", "accounts"));
    assert!(wechat.may_call("tax", "anything"));
    assert!(portal.may_call("hpf", "accounts"));
    assert!(portal.may_call("hpf", "loans"));
    assert!(portal.may_call("water", "bill"));
    assert!(!portal.may_call("water", "usage"));
    assert!(!portal.may_call("hpf2", "accounts"));
    assert!(!portal.may_call("hp", "accounts"));
    assert!(!portal.may_call("tax", "bill"));
    assert!(!portal.may_call("water", "bil"));
    assert!(
        !portal.may_call("water", "*"),
        "a route named `*` is not a wildcard"
    );
    assert!(!kiosk.may_call("hpf", "accounts"));
}

#[test]
fn patterns() {
    for ok in ["*", "hpf/*", "hpf/accounts", "medins-2/get-card", "a/b"] {
        assert_eq!(check_pattern(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "**",
        "*/*",
        "*/x",
        "hpf",
        "hpf/",
        "/x",
        "hpf/a/b",
        "hpf/a*",
        "HPF/x",
        "hpf/X",
        "hpf /x",
        "hpf/*x",
        "h.p.f/x",
        &format!("{}/x", "a".repeat(33)),
    ] {
        assert!(check_pattern(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        check_pattern("hpf"),
        Err(
            "route pattern `hpf` must be `*`, `dept/*` or `dept/route` (ids of a-z, 0-9 and -)"
                .into()
        )
    );
}

#[test]
fn construction_errors() {
    let mut bad_hash = rule("a", "k", &["*"]);
    bad_hash.key_sha256 = "abc".into();
    assert_eq!(
        ChannelSet::new(vec![bad_hash]).unwrap_err(),
        ChannelError::BadKeyHash("a".into())
    );
    let mut not_hex = rule("a", "k", &["*"]);
    not_hex.key_sha256 = "z".repeat(64);
    assert_eq!(
        ChannelSet::new(vec![not_hex]).unwrap_err(),
        ChannelError::BadKeyHash("a".into())
    );
    assert_eq!(
        ChannelSet::new(vec![rule("a", "k1", &[]), rule("a", "k2", &[])]).unwrap_err(),
        ChannelError::DuplicateId("a".into())
    );
    assert_eq!(
        ChannelSet::new(vec![rule("a", "k", &[]), rule("b", "k", &[])]).unwrap_err(),
        ChannelError::DuplicateKey("a".into(), "b".into())
    );
    let e = ChannelSet::new(vec![rule("a", "k", &["hpf"])]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "channel `a`: route pattern `hpf` must be `*`, `dept/*` or `dept/route` (ids of a-z, 0-9 and -)"
    );
}
