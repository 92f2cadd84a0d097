#![allow(clippy::unwrap_used)]

use onestop_config::{Compensation, Composite, CompositeStep, InputField, InputKind};
use onestop_store::{CaseRecord, CaseState, StepRecord, StepState};
use serde_json::json;

use super::*;

fn step(id: &str, dept: &str, after: &[&str], path: &str) -> CompositeStep {
    CompositeStep {
        id: id.into(),
        name: None,
        dept: dept.into(),
        method: "POST".into(),
        path: path.into(),
        body: None,
        after: after.iter().map(|s| (*s).into()).collect(),
        deadline: Duration::from_secs(3600),
        compensate: Some(Compensation {
            method: "POST".into(),
            path: format!("{path}/{{steps.{id}.application_id}}/withdraw"),
            body: None,
        }),
        evidence: Vec::new(),
    }
}

/// a → (b ∥ c) → d
fn diamond() -> Arc<Matter> {
    let composite = Composite {
        id: "m".into(),
        name: "M".into(),
        description: None,
        lead: None,
        input: vec![
            InputField {
                name: "name".into(),
                required: true,
                kind: InputKind::String,
            },
            InputField {
                name: "n".into(),
                required: false,
                kind: InputKind::Number,
            },
        ],
        steps: vec![
            step("a", "hpf", &[], "/api/v1/depts/hpf/applications/a"),
            step(
                "b",
                "tax",
                &["a"],
                "/api/v1/depts/tax/applications/b/{steps.a.application_id}",
            ),
            step("c", "civil", &["a"], "/api/v1/depts/civil/applications/c"),
            step(
                "d",
                "water",
                &["b", "c"],
                "/api/v1/depts/water/applications/d",
            ),
        ],
    };
    compile(&[composite]).remove("m").unwrap()
}

fn case(states: &[(&str, StepState, Option<i64>)]) -> CaseRecord {
    CaseRecord {
        id: "C1".into(),
        citizen: "110101199003077777".into(),
        channel: None,
        matter: "m".into(),
        matter_name: "M".into(),
        lead_dept: "hpf".into(),
        input: json!({"name": "张三 / 李"}),
        state: CaseState::Running,
        failure: None,
        submit_key: None,
        created_at: 0,
        updated_at: 0,
        finished_at: None,
        owner: None,
        lease_until: 0,
        steps: states
            .iter()
            .enumerate()
            .map(|(i, (id, state, seq))| StepRecord {
                step: (*id).into(),
                position: i as i64,
                dept: "x".into(),
                name: (*id).into(),
                state: *state,
                attempts: 0,
                output: (*state == StepState::Done)
                    .then(|| json!({"application_id": format!("APP-{id}"), "n": 7})),
                error: None,
                deadline_at: 0,
                started_at: None,
                finished_at: None,
                done_seq: *seq,
                compensated_at: None,
            })
            .collect(),
    }
}

use StepState::{Compensated, Done, Failed, Pending, Running};

#[test]
fn steps_run_when_what_they_wait_for_is_done() {
    let m = diamond();
    assert_eq!(m.lead, "hpf");
    let c = case(&[
        ("a", Pending, None),
        ("b", Pending, None),
        ("c", Pending, None),
        ("d", Pending, None),
    ]);
    assert_eq!(next(&m, &c), Next::Run(vec![0]));
    let c = case(&[
        ("a", Done, Some(1)),
        ("b", Pending, None),
        ("c", Running, None),
        ("d", Pending, None),
    ]);
    assert_eq!(next(&m, &c), Next::Run(vec![1, 2]));
    let c = case(&[
        ("a", Done, Some(1)),
        ("b", Done, Some(3)),
        ("c", Done, Some(2)),
        ("d", Pending, None),
    ]);
    assert_eq!(next(&m, &c), Next::Run(vec![3]));
    let c = case(&[
        ("a", Done, Some(1)),
        ("b", Done, Some(3)),
        ("c", Done, Some(2)),
        ("d", Done, Some(4)),
    ]);
    assert_eq!(next(&m, &c), Next::Complete);
    let c = case(&[
        ("a", Done, Some(1)),
        ("b", Failed, None),
        ("c", Done, Some(2)),
        ("d", Pending, None),
    ]);
    assert_eq!(next(&m, &c), Next::Compensate);
    // A record whose steps cannot progress (d pending, b compensated).
    let c = case(&[
        ("a", Done, Some(1)),
        ("b", Compensated, None),
        ("c", Done, Some(2)),
        ("d", Pending, None),
    ]);
    assert_eq!(next(&m, &c), Next::Stuck);
}

#[test]
fn done_steps_are_undone_latest_first() {
    let c = case(&[
        ("a", Done, Some(1)),
        ("b", Failed, None),
        ("c", Done, Some(3)),
        ("d", Done, Some(2)),
    ]);
    assert_eq!(compensation_order(&c), vec!["c", "d", "a"]);
    let c = case(&[
        ("a", Compensated, Some(1)),
        ("b", Failed, None),
        ("c", Done, Some(2)),
        ("d", Pending, None),
    ]);
    assert_eq!(compensation_order(&c), vec!["c"]);
}

#[test]
fn templates_render_from_the_form_and_earlier_answers() {
    let m = diamond();
    let c = case(&[
        ("a", Done, Some(1)),
        ("b", Pending, None),
        ("c", Pending, None),
        ("d", Pending, None),
    ]);
    let scope = Scope::of(&c);
    assert_eq!(
        render_path(&m.steps[1].call, &scope).unwrap(),
        "/api/v1/depts/tax/applications/b/APP-a"
    );
    assert_eq!(
        render_path(m.steps[0].compensate.as_ref().unwrap(), &scope).unwrap(),
        "/api/v1/depts/hpf/applications/a/APP-a/withdraw"
    );
    // A value is one path segment: `/` and spaces are encoded.
    let call = Call {
        method: "POST".into(),
        path: parse_template("/x/{input.name}").unwrap(),
        body: None,
    };
    assert_eq!(
        render_path(&call, &scope).unwrap(),
        "/x/%E5%BC%A0%E4%B8%89%20%2F%20%E6%9D%8E"
    );
    // Bodies: a lone placeholder keeps its type; mixed text interpolates.
    let call = Call {
        method: "POST".into(),
        path: vec![],
        body: Some(
            json!({"n": "{steps.a.n}", "who": "{citizen}", "label": "no. {steps.a.n}", "list": ["{input.name}"]}),
        ),
    };
    assert_eq!(
        render_body(&call, &scope).unwrap().unwrap(),
        json!({"n": 7, "who": "110101199003077777", "label": "no. 7", "list": ["张三 / 李"]})
    );
    // A step that has no answer yet.
    let err = render_path(&m.steps[3].compensate.clone().unwrap(), &scope).unwrap_err();
    assert!(err.contains("{steps.d.application_id}"), "{err}");
}

#[test]
fn forms_are_checked_field_by_field() {
    let m = diamond();
    assert_eq!(check_input(&m, &json!({"name": "x"})), Ok(()));
    assert_eq!(check_input(&m, &json!({"name": "x", "n": 2})), Ok(()));
    for (form, gist) in [
        (json!([]), "must be a JSON object"),
        (json!({}), "input.name is required"),
        (json!({"name": null}), "input.name is required"),
        (json!({"name": 1}), "input.name must be a string"),
        (json!({"name": "x", "n": "2"}), "input.n must be a number"),
        (
            json!({"name": "x", "extra": 1}),
            "input.extra is not a field",
        ),
    ] {
        let err = check_input(&m, &form).unwrap_err();
        assert!(err.contains(gist), "{form}: {err}");
    }
}
