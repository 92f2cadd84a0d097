//! Evidence (一证通办): before a step runs, the data items it declares are
//! read from their issuing departments — all at once — as the step's
//! department, through an [`EvidenceSource`] (the binary's is the
//! exchange: agreement, consent, field filter, masking and the access
//! log). What the citizen supplied in the form under an evidence's name is
//! used instead of reading it. A refused read fails the step with a reason
//! that names the missing evidence, why, and the form field that supplies
//! it; nothing wider is read instead.

use async_trait::async_trait;
use onestop_config::Evidence;
use serde_json::{Map, Value};

/// One read of a piece of evidence.
#[derive(Debug, Clone)]
pub struct EvidenceRequest<'a> {
    /// The department reading (the step's).
    pub consumer: &'a str,
    /// `<dept>.<item>`.
    pub item: &'a str,
    pub purpose: &'a str,
    pub citizen: &'a str,
    pub request_id: String,
}

/// Why a piece of evidence could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// Not allowed (no approved agreement for the purpose, expired,
    /// revoked, no consent) or not held: retrying will not help.
    #[error("{0}")]
    Refused(String),
    /// The provider or the audit log did not answer: worth a retry.
    #[error("{0}")]
    Unavailable(String),
}

/// Reads evidence; the answer is the JSON object the consumer may see.
#[async_trait]
pub trait EvidenceSource: Send + Sync + 'static {
    async fn fetch(&self, req: EvidenceRequest<'_>) -> Result<Map<String, Value>, EvidenceError>;
}

/// Why gathering a step's evidence stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gathered {
    /// Evidence name → its fields.
    Ready(Map<String, Value>),
    /// Some evidence was refused: the step fails with this reason.
    Missing(String),
    /// Some provider did not answer: try again.
    Unavailable(String),
}

/// Reads every piece of `evidence` for `citizen` at once (taking what the
/// form `input` supplies instead), keeping only the declared fields.
pub(crate) async fn gather(
    source: Option<&dyn EvidenceSource>,
    consumer: &str,
    citizen: &str,
    input: &Value,
    evidence: &[Evidence],
    request_id: &str,
) -> Gathered {
    let reads = evidence.iter().map(|ev| async move {
        if let Some(Value::Object(given)) = input.get(&ev.name) {
            return Ok(only(&ev.fields, given));
        }
        let Some(source) = source else {
            return Err(EvidenceError::Refused(
                "data sharing is not enabled on this gateway".into(),
            ));
        };
        source
            .fetch(EvidenceRequest {
                consumer,
                item: &ev.item,
                purpose: &ev.purpose,
                citizen,
                request_id: format!("{request_id}-{}", ev.name),
            })
            .await
            .map(|data| only(&ev.fields, &data))
    });
    let results = futures::future::join_all(reads).await;
    let mut ready = Map::new();
    let mut missing = Vec::new();
    let mut unavailable = Vec::new();
    for (ev, result) in evidence.iter().zip(results) {
        match result {
            Ok(fields) => {
                ready.insert(ev.name.clone(), Value::Object(fields));
            }
            Err(EvidenceError::Refused(why)) => missing.push(format!(
                "evidence `{}` ({} for purpose `{}`): {why}; supply it as form field `{}` with {}",
                ev.name,
                ev.item,
                ev.purpose,
                ev.name,
                ev.fields.join(", ")
            )),
            Err(EvidenceError::Unavailable(why)) => {
                unavailable.push(format!("evidence `{}` ({}): {why}", ev.name, ev.item));
            }
        }
    }
    if !missing.is_empty() {
        Gathered::Missing(format!("missing {}", missing.join("; ")))
    } else if !unavailable.is_empty() {
        Gathered::Unavailable(unavailable.join("; "))
    } else {
        Gathered::Ready(ready)
    }
}

/// The body a step sends: its rendered body with `evidence` added.
pub(crate) fn with_evidence(body: Option<Value>, evidence: Map<String, Value>) -> Option<Value> {
    if evidence.is_empty() {
        return body;
    }
    match body {
        None => Some(Value::Object(Map::from_iter([(
            "evidence".to_owned(),
            Value::Object(evidence),
        )]))),
        Some(Value::Object(mut map)) => {
            map.insert("evidence".into(), Value::Object(evidence));
            Some(Value::Object(map))
        }
        // A body that is not an object keeps its shape (validation steers
        // authors to object bodies for steps with evidence).
        Some(other) => Some(other),
    }
}

fn only(fields: &[String], data: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|f| Some((f.clone(), data.get(f)?.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    struct Fake {
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl EvidenceSource for Fake {
        async fn fetch(
            &self,
            req: EvidenceRequest<'_>,
        ) -> Result<Map<String, Value>, EvidenceError> {
            self.seen.lock().expect("lock").push(req.item.to_owned());
            match req.item {
                "police.household" => Ok(
                    json!({"name": "张三", "address": "北京市****", "phone": "138****5678"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                ),
                "civil.marital_status" => {
                    Err(EvidenceError::Refused("no approved agreement".into()))
                }
                _ => Err(EvidenceError::Unavailable("timed out".into())),
            }
        }
    }

    fn ev(name: &str, item: &str, fields: &[&str]) -> Evidence {
        Evidence {
            name: name.into(),
            item: item.into(),
            fields: fields.iter().map(|f| (*f).into()).collect(),
            purpose: "birth-registration".into(),
        }
    }

    #[tokio::test]
    async fn reads_keep_declared_fields_and_refusals_name_the_evidence() {
        let fake = Fake {
            seen: Mutex::new(Vec::new()),
        };
        let household = ev("household", "police.household", &["name", "address"]);
        let got = gather(
            Some(&fake),
            "hrss",
            "c",
            &json!({}),
            std::slice::from_ref(&household),
            "r",
        )
        .await;
        assert_eq!(
            got,
            Gathered::Ready(
                json!({"household": {"name": "张三", "address": "北京市****"}})
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
            )
        );
        let marital = ev("marriage", "civil.marital_status", &["status"]);
        let got = gather(
            Some(&fake),
            "hrss",
            "c",
            &json!({}),
            &[household.clone(), marital.clone()],
            "r",
        )
        .await;
        let Gathered::Missing(why) = got else {
            panic!("{got:?}")
        };
        assert!(why.contains("evidence `marriage` (civil.marital_status for purpose `birth-registration`): no approved agreement"), "{why}");
        assert!(why.contains("form field `marriage` with status"), "{why}");
        assert!(!why.contains("household"), "{why}");
        // Supplied by the citizen: not read.
        let before = fake.seen.lock().expect("lock").len();
        let got = gather(
            Some(&fake),
            "hrss",
            "c",
            &json!({"marriage": {"status": "married"}}),
            &[marital],
            "r",
        )
        .await;
        assert_eq!(fake.seen.lock().expect("lock").len(), before);
        assert!(matches!(got, Gathered::Ready(m) if m["marriage"]["status"] == "married"));
        let got = gather(
            Some(&fake),
            "hrss",
            "c",
            &json!({}),
            &[ev("x", "tax.other", &["a"])],
            "r",
        )
        .await;
        assert!(matches!(got, Gathered::Unavailable(_)), "{got:?}");
    }

    #[test]
    fn evidence_joins_the_body() {
        let ev = json!({"h": {"a": 1}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            with_evidence(None, ev.clone()),
            Some(json!({"evidence": {"h": {"a": 1}}}))
        );
        assert_eq!(
            with_evidence(Some(json!({"x": 1})), ev),
            Some(json!({"x": 1, "evidence": {"h": {"a": 1}}}))
        );
        assert_eq!(
            with_evidence(Some(json!({"x": 1})), Map::new()),
            Some(json!({"x": 1}))
        );
    }
}
