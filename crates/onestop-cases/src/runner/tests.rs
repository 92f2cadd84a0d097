//! The runner over a real SQLite store and a scripted department ledger
//! that honours idempotency keys like the simulated fleet does: answers
//! lost after the work was done are retried with the same key and never
//! executed twice; a refusal undoes the done steps latest first.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use onestop_config::{Config, GatewayFile};
use onestop_store::{CaseState, SqlStore, StoreOptions};
use serde_json::json;

use super::*;
use crate::Cases;

/// What the scripted departments do with a call.
#[derive(Default)]
struct Ledger {
    /// key → the answer stored when it first executed.
    done: HashMap<String, Value>,
    /// (path, key) of every call received, in order.
    calls: Vec<(String, String)>,
    /// Keys executed, in order (a key at most once).
    executed: Vec<String>,
    /// Path fragment → how many calls to lose after executing them.
    lose: HashMap<&'static str, u32>,
    /// Path fragment → refuse for good.
    refuse: Vec<&'static str>,
}

struct Script(Mutex<Ledger>);

#[async_trait]
impl Transport for Script {
    async fn call(&self, call: StepCall<'_>) -> Reply {
        let mut l = self.0.lock().unwrap();
        l.calls
            .push((call.path.to_owned(), call.idempotency_key.to_owned()));
        if l.refuse.iter().any(|f| call.path.contains(f)) {
            return Reply::Refused {
                status: 422,
                message: "REFUSED".into(),
            };
        }
        let key = call.idempotency_key.to_owned();
        let answer = match l.done.get(&key) {
            Some(a) => a.clone(),
            None => {
                let n = l.executed.len() + 1;
                let a = json!({"application_id": format!("APP-{n}"), "path": call.path});
                l.done.insert(key.clone(), a.clone());
                l.executed.push(key.clone());
                a
            }
        };
        let lost = l
            .lose
            .iter_mut()
            .find(|(f, n)| call.path.contains(*f) && **n > 0);
        if let Some((_, n)) = lost {
            *n -= 1;
            return Reply::Transient("502: the answer was lost".into());
        }
        Reply::Done(answer)
    }
}

const COMPOSITE: &str = r#"
[cases]
retry_backoff = "1ms"
max_attempts = 4

[[composite]]
id = "m"
name = "M"
input = [{ name = "x" }]

[[composite.steps]]
id = "a"
dept = "d1"
path = "/api/v1/depts/d1/a"
deadline = "1d"
compensate = { path = "/api/v1/depts/d1/a/{steps.a.application_id}/undo" }

[[composite.steps]]
id = "b"
dept = "d2"
after = ["a"]
path = "/api/v1/depts/d2/b/{steps.a.application_id}"
deadline = "1d"
compensate = { path = "/api/v1/depts/d2/b/{steps.b.application_id}/undo" }

[[composite.steps]]
id = "c"
dept = "d3"
after = ["b"]
path = "/api/v1/depts/d3/c"
deadline = "1d"
compensate = { path = "/api/v1/depts/d3/c/{steps.c.application_id}/undo" }
"#;

async fn cases(ledger: Ledger) -> (Arc<Cases>, Arc<Script>) {
    let store = SqlStore::connect("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let gateway: GatewayFile = toml::from_str(COMPOSITE).unwrap();
    let config = Config {
        gateway,
        ..Config::default()
    };
    let script = Arc::new(Script(Mutex::new(ledger)));
    (
        Cases::new(Arc::new(store), script.clone(), "test", &config),
        script,
    )
}

async fn run(cases: &Arc<Cases>) -> CaseRecord {
    let (case, created) = cases
        .submit("110101199003077777", None, "m", json!({"x": "1"}), None)
        .await
        .unwrap();
    assert!(created);
    // `submit` started driving it; drive once more to wait for the end
    // (a second driver on the same case does nothing while one runs).
    for _ in 0..200 {
        let now = cases.case(&case.id).await.unwrap();
        if !now.state.active() {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("case did not finish");
}

#[tokio::test]
async fn a_lost_answer_is_retried_with_the_same_key_and_executes_once() {
    let (cases, script) = cases(Ledger {
        lose: HashMap::from([("/d2/b", 2)]),
        ..Ledger::default()
    })
    .await;
    let case = run(&cases).await;
    assert_eq!(case.state, CaseState::Completed, "{case:?}");
    let b = case.steps.iter().find(|s| s.step == "b").unwrap();
    assert_eq!(b.attempts, 3, "two lost answers, then the replay");
    // b's answer is the one stored when it first executed.
    assert_eq!(b.output.as_ref().unwrap()["application_id"], "APP-2");
    let l = script.0.lock().unwrap();
    let b_keys: Vec<&str> = l
        .calls
        .iter()
        .filter(|(p, _)| p.contains("/d2/b"))
        .map(|(_, k)| k.as_str())
        .collect();
    assert_eq!(b_keys, vec![format!("{}/b", case.id); 3]);
    assert_eq!(l.executed.len(), 3, "a, b, c once each: {:?}", l.executed);
    // b's path carries a's answer.
    assert_eq!(l.calls[1].0, "/api/v1/depts/d2/b/APP-1");
}

#[tokio::test]
async fn a_refused_step_undoes_the_done_ones_latest_first() {
    let (cases, script) = cases(Ledger {
        refuse: vec!["/d3/c"],
        lose: HashMap::from([("/undo", 1)]),
        ..Ledger::default()
    })
    .await;
    let case = run(&cases).await;
    assert_eq!(case.state, CaseState::Failed, "{case:?}");
    assert!(
        case.failure.as_deref().unwrap().contains("step `c`"),
        "{case:?}"
    );
    let state = |id: &str| case.steps.iter().find(|s| s.step == id).unwrap().state;
    assert_eq!(
        [state("a"), state("b"), state("c")],
        [
            StepState::Compensated,
            StepState::Compensated,
            StepState::Failed
        ]
    );
    let l = script.0.lock().unwrap();
    let undone: Vec<&str> = l
        .executed
        .iter()
        .filter(|k| k.ends_with("/undo"))
        .map(String::as_str)
        .collect();
    let id = &case.id;
    assert_eq!(undone, [format!("{id}/b/undo"), format!("{id}/a/undo")]);
    // The refused step was asked once; the first undo's answer was lost
    // and retried with its key, executing once.
    assert_eq!(
        l.calls.iter().filter(|(p, _)| p.contains("/d3/c")).count(),
        1
    );
    assert_eq!(
        l.calls.iter().filter(|(p, _)| p.contains("/undo")).count(),
        3
    );
}

#[tokio::test]
async fn transient_failures_give_up_after_max_attempts() {
    let (cases, script) = cases(Ledger {
        lose: HashMap::from([("/d1/a", 100)]),
        ..Ledger::default()
    })
    .await;
    let case = run(&cases).await;
    assert_eq!(case.state, CaseState::Failed, "{case:?}");
    let a = case.steps.iter().find(|s| s.step == "a").unwrap();
    assert_eq!(a.attempts, 4);
    assert!(
        a.error
            .as_deref()
            .unwrap()
            .contains("gave up after 4 attempts"),
        "{a:?}"
    );
    assert_eq!(
        script.0.lock().unwrap().executed.len(),
        1,
        "executed once, answered never"
    );
}
