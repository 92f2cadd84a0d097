//! The pure part of a case: composite matters compiled from the
//! configuration, the form's check, template rendering, which steps may run
//! now and in which order completed steps are undone. No I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use onestop_config::{
    Composite, Evidence, InputField, InputKind, Piece, Placeholder, parse_template,
};
use onestop_store::{CaseRecord, StepState};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// Bytes of a path segment left as they are (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A composite matter ready to run.
#[derive(Debug, Clone)]
pub struct Matter {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub lead: String,
    pub input: Vec<InputField>,
    pub steps: Vec<Step>,
}

/// One step of a [`Matter`].
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub name: String,
    pub dept: String,
    pub call: Call,
    pub compensate: Option<Call>,
    /// Indexes of the steps that must be done first.
    pub after: Vec<usize>,
    pub deadline: Duration,
    /// Data items read from their departments before the step runs.
    pub evidence: Vec<Evidence>,
}

/// A call of a department's route: method, path and body templates.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: Vec<Piece>,
    pub body: Option<Value>,
}

/// Every composite matter of a configuration, by id.
pub type Matters = BTreeMap<String, Arc<Matter>>;

/// Compiles the (validated) composites. A template that does not parse
/// (which validation rules out) keeps its text.
pub fn compile(composites: &[Composite]) -> Matters {
    composites
        .iter()
        .filter(|c| !c.steps.is_empty())
        .map(|c| {
            let index: HashMap<&str, usize> = c
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.as_str(), i))
                .collect();
            let steps = c
                .steps
                .iter()
                .map(|s| Step {
                    id: s.id.clone(),
                    name: s.name.clone().unwrap_or_else(|| s.id.clone()),
                    dept: s.dept.clone(),
                    call: call(&s.method, &s.path, s.body.as_ref()),
                    compensate: s
                        .compensate
                        .as_ref()
                        .map(|u| call(&u.method, &u.path, u.body.as_ref())),
                    after: s
                        .after
                        .iter()
                        .filter_map(|a| index.get(a.as_str()).copied())
                        .collect(),
                    deadline: s.deadline,
                    evidence: s.evidence.clone(),
                })
                .collect::<Vec<_>>();
            let lead = c.lead.clone().unwrap_or_else(|| c.steps[0].dept.clone());
            let matter = Matter {
                id: c.id.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                lead,
                input: c.input.clone(),
                steps,
            };
            (c.id.clone(), Arc::new(matter))
        })
        .collect()
}

fn call(method: &str, path: &str, body: Option<&Value>) -> Call {
    Call {
        method: method.to_owned(),
        path: parse_template(path).unwrap_or_else(|_| vec![Piece::Text(path.to_owned())]),
        body: body.cloned(),
    }
}

/// Checks a submitted form against the matter's fields: a JSON object,
/// every required field present and not null, every field of its kind,
/// nothing undeclared. The message names the field.
pub fn check_input(matter: &Matter, input: &Value) -> Result<(), String> {
    let Value::Object(form) = input else {
        return Err("`input` must be a JSON object".into());
    };
    for field in &matter.input {
        match form.get(&field.name) {
            None | Some(Value::Null) if field.required => {
                return Err(format!("input.{} is required", field.name));
            }
            None | Some(Value::Null) => {}
            Some(value) if !of_kind(value, field.kind) => {
                return Err(format!(
                    "input.{} must be a {}",
                    field.name,
                    field.kind.as_str()
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(unknown) = form
        .keys()
        .find(|k| !matter.input.iter().any(|f| &f.name == *k) && evidence(matter, k).is_none())
    {
        return Err(format!("input.{unknown} is not a field of `{}`", matter.id));
    }
    // Evidence the citizen supplies (when a department could not read
    // it): an object of the declared fields only.
    for (name, value) in form {
        let Some(ev) = evidence(matter, name) else {
            continue;
        };
        let Value::Object(fields) = value else {
            return Err(format!(
                "input.{name} must be an object (evidence `{}`)",
                ev.item
            ));
        };
        if let Some(extra) = fields.keys().find(|f| !ev.fields.contains(f)) {
            return Err(format!(
                "input.{name}.{extra} is not a field of evidence `{name}` ({})",
                ev.fields.join(", ")
            ));
        }
    }
    Ok(())
}

/// The evidence declaration named `name` in any step of `matter`.
pub fn evidence<'a>(matter: &'a Matter, name: &str) -> Option<&'a Evidence> {
    matter
        .steps
        .iter()
        .flat_map(|s| s.evidence.iter())
        .find(|e| e.name == name)
}

fn of_kind(value: &Value, kind: InputKind) -> bool {
    match kind {
        InputKind::String => value.is_string(),
        InputKind::Number => value.is_number(),
        InputKind::Boolean => value.is_boolean(),
        InputKind::Object => value.is_object(),
        InputKind::Array => value.is_array(),
    }
}

/// What templates may name: the citizen, the form and done steps' answers.
pub struct Scope<'a> {
    pub citizen: &'a str,
    pub input: &'a Value,
    /// Step id → its answer.
    pub outputs: HashMap<&'a str, &'a Value>,
}

impl<'a> Scope<'a> {
    /// The scope of `case`: its form and the answers of its done steps.
    pub fn of(case: &'a CaseRecord) -> Scope<'a> {
        Scope {
            citizen: &case.citizen,
            input: &case.input,
            outputs: case
                .steps
                .iter()
                .filter_map(|s| Some((s.step.as_str(), s.output.as_ref()?)))
                .collect(),
        }
    }

    fn lookup(&self, hole: &Placeholder) -> Result<Value, String> {
        let missing = || format!("{} has no value", describe(hole));
        match hole {
            Placeholder::Citizen => Ok(Value::String(self.citizen.to_owned())),
            Placeholder::Input(name) => self
                .input
                .get(name)
                .filter(|v| !v.is_null())
                .cloned()
                .ok_or_else(missing),
            Placeholder::Step(step, fields) => {
                let mut at = *self.outputs.get(step.as_str()).ok_or_else(missing)?;
                for field in fields {
                    at = at.get(field).ok_or_else(missing)?;
                }
                Ok(at.clone())
            }
        }
    }
}

fn describe(hole: &Placeholder) -> String {
    match hole {
        Placeholder::Citizen => "{citizen}".into(),
        Placeholder::Input(name) => format!("{{input.{name}}}"),
        Placeholder::Step(step, fields) => format!("{{steps.{step}.{}}}", fields.join(".")),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The request path of `call` in `scope`: each placeholder's value
/// percent-encoded as one segment.
pub fn render_path(call: &Call, scope: &Scope<'_>) -> Result<String, String> {
    let mut out = String::new();
    for piece in &call.path {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Hole(hole) => {
                let value = text_of(&scope.lookup(hole)?);
                if value.is_empty() {
                    return Err(format!("{} is empty", describe(hole)));
                }
                out.extend(utf8_percent_encode(&value, SEGMENT));
            }
        }
    }
    Ok(out)
}

/// The request body of `call` in `scope` (`None` when it declares none).
pub fn render_body(call: &Call, scope: &Scope<'_>) -> Result<Option<Value>, String> {
    call.body
        .as_ref()
        .map(|b| render_value(b, scope))
        .transpose()
}

fn render_value(template: &Value, scope: &Scope<'_>) -> Result<Value, String> {
    Ok(match template {
        Value::String(s) => {
            let pieces = parse_template(s)?;
            match pieces.as_slice() {
                [Piece::Hole(hole)] => scope.lookup(hole)?,
                _ => {
                    let mut out = String::new();
                    for piece in &pieces {
                        match piece {
                            Piece::Text(t) => out.push_str(t),
                            Piece::Hole(hole) => out.push_str(&text_of(&scope.lookup(hole)?)),
                        }
                    }
                    Value::String(out)
                }
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_value(i, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, scope)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        other => other.clone(),
    })
}

/// What a running case should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Run these steps (indexes), all at once.
    Run(Vec<usize>),
    /// Every step is done.
    Complete,
    /// A step failed for good: undo the done ones.
    Compensate,
    /// Nothing can run (an inconsistent record): fail the case.
    Stuck,
}

/// The next move of a running case of `matter`.
pub fn next(matter: &Matter, case: &CaseRecord) -> Next {
    let state = |i: usize| {
        case.steps
            .iter()
            .find(|s| s.step == matter.steps[i].id)
            .map(|s| s.state)
    };
    let n = matter.steps.len();
    if (0..n).any(|i| state(i) == Some(StepState::Failed)) {
        return Next::Compensate;
    }
    if (0..n).all(|i| state(i) == Some(StepState::Done)) {
        return Next::Complete;
    }
    let ready: Vec<usize> = (0..n)
        .filter(|&i| matches!(state(i), Some(StepState::Pending | StepState::Running)))
        .filter(|&i| {
            matter.steps[i]
                .after
                .iter()
                .all(|&d| state(d) == Some(StepState::Done))
        })
        .collect();
    if ready.is_empty() {
        Next::Stuck
    } else {
        Next::Run(ready)
    }
}

/// The done steps to undo, latest done first (by `done_seq`).
pub fn compensation_order(case: &CaseRecord) -> Vec<String> {
    let mut done: Vec<(i64, &str)> = case
        .steps
        .iter()
        .filter(|s| s.state == StepState::Done)
        .map(|s| (s.done_seq.unwrap_or(0), s.step.as_str()))
        .collect();
    done.sort_by(|a, b| b.cmp(a));
    done.into_iter().map(|(_, s)| s.to_owned()).collect()
}

#[cfg(test)]
mod tests;
