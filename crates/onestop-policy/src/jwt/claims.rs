//! The JOSE header and the claims of a token, read before anything in them
//! is trusted. Strings borrow from the decoded JSON where they can; claims
//! nobody asks for are skipped without being built; a claim onestop reads
//! that appears twice makes the token malformed.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Most values in an `aud` array.
const MAX_AUDIENCES: usize = 32;

/// A JSON string, borrowed when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// The JOSE header members onestop reads; others are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub alg: Str<'a>,
    #[serde(borrow, default)]
    pub typ: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub kid: Option<Str<'a>>,
    /// Critical extensions (RFC 7515 §4.1.11): onestop understands none, so
    /// a token that has any is refused.
    #[serde(default)]
    pub crit: Option<IgnoredAny>,
}

/// A claim's value, classified by JSON type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Str(Cow<'a, str>),
    /// A non-negative integer.
    Uint(u64),
    /// A negative integer.
    Int(i64),
    Float(f64),
    /// An array of at most [`MAX_AUDIENCES`] strings.
    Strs(Vec<Cow<'a, str>>),
    /// Anything else (null, boolean, object, other arrays).
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor(PhantomData))
    }
}

struct ValueVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
    type Value = Value<'a>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value<'a>, E> {
        Ok(Value::Other)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value<'a>, E> {
        Ok(Value::Uint(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value<'a>, E> {
        Ok(if v >= 0 {
            Value::Uint(v.unsigned_abs())
        } else {
            Value::Int(v)
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value<'a>, E> {
        Ok(Value::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value<'a>, E> {
        Ok(Value::Other)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value<'a>, E> {
        Ok(Value::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'a>, A::Error> {
        let mut strings = Vec::new();
        let mut all_strings = true;
        while let Some(item) = seq.next_element::<Item<'a>>()? {
            match item {
                Item::Str(s) if all_strings && strings.len() < MAX_AUDIENCES => strings.push(s),
                _ => all_strings = false,
            }
        }
        Ok(if all_strings {
            Value::Strs(strings)
        } else {
            Value::Other
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Other)
    }
}

/// An array element: a string, or something skipped.
enum Item<'a> {
    Str(Cow<'a, str>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Item<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Item<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Item<'a>, E> {
                Ok(Item::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Item<'a>, E> {
                Ok(Item::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Item<'a>, E> {
                Ok(Item::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Item<'a>, E> {
                Ok(Item::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Item<'a>, E> {
                Ok(Item::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Item<'a>, E> {
                Ok(Item::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Item<'a>, E> {
                Ok(Item::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Item::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Item::Other)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// The claims onestop reads.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Claims<'a> {
    pub iss: Option<Value<'a>>,
    pub exp: Option<Value<'a>>,
    pub nbf: Option<Value<'a>>,
    pub aud: Option<Value<'a>>,
    pub sub: Option<Value<'a>>,
    pub jti: Option<Value<'a>>,
    pub chn: Option<Value<'a>>,
    /// The values of [`parse_claims`]'s `extra` names, in that order.
    pub extra: Vec<Option<Value<'a>>>,
}

/// Reads a claims set (a JSON object) from `json`: the registered claims
/// onestop uses, `chn`, and the claims named in `extra` (citizen claims
/// other than `sub`).
pub(crate) fn parse_claims<'a>(
    json: &'a [u8],
    extra: &[String],
) -> Result<Claims<'a>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let claims = ClaimsSeed { extra }.deserialize(&mut de)?;
    de.end()?;
    Ok(claims)
}

struct ClaimsSeed<'s> {
    extra: &'s [String],
}

impl<'de, 's> DeserializeSeed<'de> for ClaimsSeed<'s> {
    type Value = Claims<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Claims<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for ClaimsSeed<'s> {
    type Value = Claims<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims<'de>, A::Error> {
        let mut c = Claims {
            extra: self.extra.iter().map(|_| None).collect(),
            ..Claims::default()
        };
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            let slot = match key.as_ref() {
                "iss" => &mut c.iss,
                "exp" => &mut c.exp,
                "nbf" => &mut c.nbf,
                "aud" => &mut c.aud,
                "sub" => &mut c.sub,
                "jti" => &mut c.jti,
                "chn" => &mut c.chn,
                other => match self.extra.iter().position(|e| e == other) {
                    Some(i) => &mut c.extra[i],
                    None => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                },
            };
            if slot.is_some() {
                return Err(de::Error::custom("a claim appears twice"));
            }
            *slot = Some(map.next_value::<Value<'de>>()?);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_known_claims_and_skips_others() {
        let json = br#"{"iss":"https://id.example","exp":1750000000,"nbf":1.5,"aud":["a","b"],
            "sub":"11010519491231002X","jti":"t-1","chn":"wechat","idn":"x","other":{"a":[1,{"b":2}]},
            "neg":-1}"#;
        let c = parse_claims(json, &["idn".to_string()]).unwrap();
        assert_eq!(c.iss, Some(Value::Str(Cow::Borrowed("https://id.example"))));
        assert!(matches!(c.iss, Some(Value::Str(Cow::Borrowed(_)))));
        assert_eq!(c.exp, Some(Value::Uint(1_750_000_000)));
        assert_eq!(c.nbf, Some(Value::Float(1.5)));
        assert_eq!(c.aud, Some(Value::Strs(vec!["a".into(), "b".into()])));
        assert_eq!(c.sub, Some(Value::Str("11010519491231002X".into())));
        assert_eq!(c.jti, Some(Value::Str("t-1".into())));
        assert_eq!(c.chn, Some(Value::Str("wechat".into())));
        assert_eq!(c.extra, vec![Some(Value::Str("x".into()))]);
    }

    #[test]
    fn classifies_types() {
        let c = parse_claims(
            br#"{"iss":1,"exp":-5,"nbf":"1","aud":["a",1],"sub":null,"jti":{},"chn":true}"#,
            &[],
        )
        .unwrap();
        assert_eq!(c.iss, Some(Value::Uint(1)));
        assert_eq!(c.exp, Some(Value::Int(-5)));
        assert_eq!(c.nbf, Some(Value::Str("1".into())));
        assert_eq!(c.aud, Some(Value::Other));
        assert_eq!(c.sub, Some(Value::Other));
        assert_eq!(c.jti, Some(Value::Other));
        assert_eq!(c.chn, Some(Value::Other));
        let many = format!("{{\"aud\":[{}]}}", vec!["\"a\""; 33].join(","));
        assert_eq!(
            parse_claims(many.as_bytes(), &[]).unwrap().aud,
            Some(Value::Other)
        );
    }

    #[test]
    fn escaped_strings_are_owned() {
        let c = parse_claims(br#"{"sub":"a\u0041","i\u0073s":"x"}"#, &[]).unwrap();
        assert_eq!(c.sub, Some(Value::Str("aA".into())));
        assert_eq!(c.iss, Some(Value::Str("x".into())));
    }

    #[test]
    fn refusals() {
        for bad in [
            &br#"{"sub":"a","sub":"b"}"#[..],
            br#"{"iss":"a","i\u0073s":"b"}"#,
            br#"{"idn":"a","idn":"b"}"#,
            br#"[]"#,
            br#""sub""#,
            br#"{"sub":"a"} x"#,
            br#"{"sub":"a""#,
            br#"{"sub":'a'}"#,
            b"",
            b"{\"sub\":\"\xff\"}",
        ] {
            assert!(
                parse_claims(bad, &["idn".to_string()]).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // A repeated claim onestop does not read is not noticed.
        assert!(parse_claims(br#"{"x":1,"x":2}"#, &[]).is_ok());
    }

    #[test]
    fn header() {
        let h: Header<'_> =
            serde_json::from_slice(br#"{"alg":"EdDSA","typ":"JWT","kid":"k1","x5u":"http://x"}"#)
                .unwrap();
        assert_eq!(h.alg.0, "EdDSA");
        assert_eq!(h.typ.unwrap().0, "JWT");
        assert_eq!(h.kid.unwrap().0, "k1");
        assert!(h.crit.is_none());
        let h: Header<'_> = serde_json::from_slice(br#"{"alg":"RS256","crit":["b64"]}"#).unwrap();
        assert!(h.crit.is_some());
        assert!(h.typ.is_none() && h.kid.is_none());
        for bad in [
            &br#"{"alg":"RS256","alg":"none"}"#[..],
            br#"{"typ":"JWT"}"#,
            br#"{"alg":1}"#,
            br#"{"alg":"RS256","kid":7}"#,
            br#"{"alg":"RS256"}x"#,
        ] {
            assert!(
                serde_json::from_slice::<Header<'_>>(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
