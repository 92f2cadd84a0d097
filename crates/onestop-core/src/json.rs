//! Strict JSON for every body the gateway parses itself: duplicate object
//! keys are refused at any depth (RFC 8259 leaves them undefined, and
//! parsers disagree on which one wins — one check in front of the gateway's
//! own parse keeps a department or a later reader from seeing another
//! value than the gateway did).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};

/// Parses `body` as `T` after checking that no object in it repeats a key.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    check_unique_keys(body)?;
    serde_json::from_slice(body)
}

/// Checks that `body` is one JSON document in which no object, at any
/// depth, has the same key twice (compared after unescaping). The error
/// names the key and where it was found.
pub fn check_unique_keys(body: &[u8]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    de.deserialize_any(Unique)?;
    de.end()
}

/// A visitor that walks any JSON value, refusing repeated keys.
struct Unique;

impl<'de> de::Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Unique)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            map.next_value::<Unique>()?;
            seen.insert(key);
        }
        Ok(Unique)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unique_keys_pass_at_every_depth() {
        for ok in [
            r#"{"a":1,"b":{"a":2,"c":[{"a":3},{"a":4}]}}"#,
            "[]",
            "null",
            r#""x""#,
            r#"{"a":{"b":{"c":{"d":[[[{"e":1}]]]}}}}"#,
            r#"{"a":1,"A":2}"#,
        ] {
            check_unique_keys(ok.as_bytes()).unwrap();
        }
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth() {
        for (bad, key) in [
            (r#"{"a":1,"a":2}"#, "a"),
            (r#"{"kind":"x","input":{"name":"a","name":"b"}}"#, "name"),
            (r#"{"x":[{"ok":1},{"d":1,"d":1}]}"#, "d"),
            (r#"{"a":{"b":{"c":{"d":[{"e":1,"e":2}]}}}}"#, "e"),
            // The same key spelled with an escape is still the same key.
            (r#"{"ab":1,"a\u0062":2}"#, "ab"),
        ] {
            let e = check_unique_keys(bad.as_bytes()).unwrap_err();
            assert!(
                e.to_string().contains(&format!("duplicate key `{key}`")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn from_slice_checks_then_parses() {
        let v: serde_json::Value = from_slice(br#"{"a":[1,2]}"#).unwrap();
        assert_eq!(v["a"][1], 2);
        assert!(from_slice::<serde_json::Value>(br#"{"a":1,"a":1}"#).is_err());
        assert!(from_slice::<serde_json::Value>(br#"{"a":1} x"#).is_err());
        assert!(from_slice::<serde_json::Value>(br#"{"a":"#).is_err());
    }
}
