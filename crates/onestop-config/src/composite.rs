//! Composite matters (一件事一次办): a life event's steps across departments,
//! declared in the gateway file as `[[composite]]`, and how cases run
//! (`[cases]`).
//!
//! ```toml
//! [[composite]]
//! id = "newborn"
//! name = "新生儿出生一件事"
//! lead = "health"
//! input = [{ name = "child_name" }, { name = "birth_date" }]
//!
//! [[composite.steps]]
//! id = "birth_certificate"
//! name = "出生医学证明"
//! dept = "health"
//! path = "/api/v1/depts/health/applications/birth-certificate"
//! body = { child = "{input.child_name}", born = "{input.birth_date}" }
//! deadline = "5d"
//! compensate = { path = "/api/v1/depts/health/applications/birth-certificate/{steps.birth_certificate.application_id}/withdraw" }
//!
//! [[composite.steps]]
//! id = "household"
//! dept = "police"
//! after = ["birth_certificate"]
//! …
//! ```
//!
//! Templates: in `path`, `{input.NAME}` and `{steps.STEP.FIELD}` (a field of
//! an earlier step's answer, dotted for nested fields) are replaced by the
//! value, percent-encoded as one path segment. In `body`, a string that is
//! exactly one placeholder becomes the value itself (any JSON type); a
//! string with placeholders among other text gets their text. `{citizen}`
//! is the citizen's id.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[cases]`: how this gateway runs cases and follows up ratings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CaseSettings {
    /// How long a gateway holds a case it drives before another gateway
    /// (or this one, restarted) may take it over. Renewed while driving.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub lease: Duration,
    /// How often the gateway looks for cases nobody drives.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub scan_interval: Duration,
    /// The longest one call of a step (or compensation) may take.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub step_timeout: Duration,
    /// Calls a step's action gets for transient failures (5xx, 429,
    /// timeouts, unreachable) before it fails for good; compensations
    /// get twice as many.
    pub max_attempts: u32,
    /// The first wait between attempts; doubles up to 30 times this.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub retry_backoff: Duration,
    /// When a bad rating's (1–2) follow-up is due.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub followup_deadline: Duration,
    /// Largest form a citizen may submit, in bytes.
    pub max_input_bytes: usize,
}

impl Default for CaseSettings {
    fn default() -> Self {
        CaseSettings {
            lease: Duration::from_secs(15),
            scan_interval: Duration::from_secs(2),
            step_timeout: Duration::from_secs(10),
            max_attempts: 5,
            retry_backoff: Duration::from_millis(200),
            followup_deadline: Duration::from_secs(5 * 24 * 3600),
            max_input_bytes: 64 * 1024,
        }
    }
}

/// `[[composite]]`: one life event's matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Composite {
    /// Unique among composites: 1-32 characters of a-z, 0-9 and -.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The department answerable for the case (ratings, follow-ups);
    /// default: the first step's.
    #[serde(default)]
    pub lead: Option<String>,
    /// The form's fields.
    #[serde(default)]
    pub input: Vec<InputField>,
    /// At least one; run as soon as the steps in their `after` are done.
    pub steps: Vec<CompositeStep>,
}

/// One field of a composite's form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputField {
    pub name: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub kind: InputKind,
}

fn yes() -> bool {
    true
}

/// The JSON type a form field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    #[default]
    String,
    Number,
    Boolean,
    Object,
    Array,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::String => "string",
            InputKind::Number => "number",
            InputKind::Boolean => "boolean",
            InputKind::Object => "object",
            InputKind::Array => "array",
        }
    }
}

/// One step of a composite: a call of one of the department's routes,
/// made through the gateway as the citizen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompositeStep {
    /// Unique within the composite (1-32 characters of a-z, 0-9, - and _).
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The department (must be declared); `path` must be below its
    /// `/api/v1/depts/<dept>/`.
    pub dept: String,
    #[serde(default = "post")]
    pub method: String,
    /// Path template (see the module documentation).
    pub path: String,
    /// Body template (a JSON document); none sends no body.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub body: Option<serde_json::Value>,
    /// Steps that must be done first.
    #[serde(default)]
    pub after: Vec<String>,
    /// The statutory deadline, from submission.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub deadline: Duration,
    /// How to undo the step once done, if a later step fails for good.
    #[serde(default)]
    pub compensate: Option<Compensation>,
    /// Evidence (一证通办): data items the gateway reads from their issuing
    /// departments, as this step's department, before the step runs.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// One piece of evidence a step needs: `fields` of the data item `item`
/// (`<dept>.<item>`), read for `purpose` under the step department's
/// approved agreement. The step's body receives it as
/// `evidence.<name>`; when the read is refused the citizen may supply
/// it as the form field `<name>` (an object of those fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub name: String,
    pub item: String,
    pub fields: Vec<String>,
    pub purpose: String,
}

/// A step's undo: a call of the same department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Compensation {
    #[serde(default = "post")]
    pub method: String,
    /// Path template; may name the step's own answer (`{steps.ID.FIELD}`).
    pub path: String,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub body: Option<serde_json::Value>,
}

fn post() -> String {
    "POST".into()
}

/// A placeholder in a step's path or body template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// `{citizen}`: the citizen's id.
    Citizen,
    /// `{input.NAME}`: a field of the form.
    Input(String),
    /// `{steps.STEP.FIELD…}`: a field of an earlier step's answer (a path
    /// of object keys).
    Step(String, Vec<String>),
}

/// A piece of a template: text, or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Hole(Placeholder),
}

/// Splits a template string into text and placeholders, or says what is
/// wrong with it (an unclosed `{`, an unknown placeholder form).
pub fn parse_template(s: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{s}`"))?;
        out.push(Piece::Hole(placeholder(&after[..close])?));
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    Ok(out)
}

fn placeholder(inner: &str) -> Result<Placeholder, String> {
    let parts: Vec<&str> = inner.split('.').collect();
    let named = |p: &&str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match parts.as_slice() {
        ["citizen"] => Ok(Placeholder::Citizen),
        ["input", name] if named(name) => Ok(Placeholder::Input((*name).to_owned())),
        ["steps", step, fields @ ..]
            if named(step) && !fields.is_empty() && fields.iter().all(named) =>
        {
            Ok(Placeholder::Step(
                (*step).to_owned(),
                fields.iter().map(|f| (*f).to_owned()).collect(),
            ))
        }
        _ => Err(format!(
            "unknown placeholder `{{{inner}}}` (expected {{citizen}}, {{input.NAME}} or {{steps.STEP.FIELD}})"
        )),
    }
}

/// Every template string of a JSON body template (object values and array
/// items, recursively).
pub fn body_strings(body: &serde_json::Value) -> Vec<&str> {
    let mut out = Vec::new();
    collect_strings(body, &mut out);
    out
}

fn collect_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod template_tests {
    use super::*;

    #[test]
    fn templates_split_into_text_and_placeholders() {
        assert_eq!(
            parse_template("/a/{input.x}/b/{steps.s1.id}").unwrap(),
            vec![
                Piece::Text("/a/".into()),
                Piece::Hole(Placeholder::Input("x".into())),
                Piece::Text("/b/".into()),
                Piece::Hole(Placeholder::Step("s1".into(), vec!["id".into()])),
            ]
        );
        assert_eq!(
            parse_template("{citizen}").unwrap(),
            vec![Piece::Hole(Placeholder::Citizen)]
        );
        assert_eq!(
            parse_template("{steps.a.b.c}").unwrap(),
            vec![Piece::Hole(Placeholder::Step(
                "a".into(),
                vec!["b".into(), "c".into()]
            ))]
        );
        assert_eq!(
            parse_template("plain").unwrap(),
            vec![Piece::Text("plain".into())]
        );
    }

    #[test]
    fn bad_templates_are_named() {
        for bad in [
            "/a/{input.x",
            "{input}",
            "{steps.a}",
            "{foo}",
            "{input.a b}",
            "{}",
        ] {
            let err = parse_template(bad).unwrap_err();
            assert!(err.contains('`'), "{bad}: {err}");
        }
    }
}
