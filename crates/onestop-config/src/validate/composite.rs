//! Checks of `[cases]` and the composite matters (`[[composite]]`): ids,
//! declared departments, paths below the step's department, templates that
//! name only form fields and steps done before, a dependency graph without
//! cycles, sane deadlines.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::{GatewayDoc, METHODS, Validator, is_ident};
use crate::composite::{Composite, Piece, Placeholder, body_strings, parse_template};
use crate::model::Config;

/// The longest statutory deadline a step may declare (a year).
const MAX_DEADLINE: Duration = Duration::from_secs(366 * 24 * 3600);

impl Validator {
    pub(super) fn composites(
        &mut self,
        doc: &GatewayDoc<'_>,
        config: &Config,
        departments: &HashSet<&str>,
    ) {
        let c = &config.gateway.cases;
        for (key, value) in [
            ("lease", c.lease),
            ("scan_interval", c.scan_interval),
            ("step_timeout", c.step_timeout),
            ("retry_backoff", c.retry_backoff),
            ("followup_deadline", c.followup_deadline),
        ] {
            if value.is_zero() {
                self.gw(
                    doc,
                    &[&format!("cases.{key}")],
                    format!("cases.{key} must be more than 0"),
                );
            }
        }
        if c.max_attempts == 0 {
            self.gw(
                doc,
                &["cases.max_attempts"],
                "cases.max_attempts must be at least 1".into(),
            );
        }
        if c.max_input_bytes == 0 {
            self.gw(
                doc,
                &["cases.max_input_bytes"],
                "cases.max_input_bytes must be at least 1".into(),
            );
        }
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, composite) in config.gateway.composite.iter().enumerate() {
            let at = format!("composite.{i}");
            if !is_ident(&composite.id) {
                self.gw(
                    doc,
                    &[&format!("{at}.id"), &at],
                    format!(
                        "composite id `{}` must be 1-32 characters of a-z, 0-9 and -",
                        composite.id
                    ),
                );
            }
            if let Some(first) = ids.insert(&composite.id, i) {
                self.gw(
                    doc,
                    &[&format!("{at}.id")],
                    format!(
                        "duplicate composite id `{}` (also composite {first})",
                        composite.id
                    ),
                );
            }
            if composite.name.trim().is_empty() {
                self.gw(
                    doc,
                    &[&format!("{at}.name"), &at],
                    "composite name must not be empty".into(),
                );
            }
            self.composite(doc, &at, composite, departments);
            self.evidence(doc, &at, composite, config);
        }
    }

    /// Evidence declarations: a known item (`<dept>.<item>`), fields the
    /// item declares, a purpose of `[[sharing.purposes]]`, a name unique in
    /// the composite that is no input field (the citizen supplies refused
    /// evidence under that name).
    fn evidence(&mut self, doc: &GatewayDoc<'_>, at: &str, composite: &Composite, config: &Config) {
        let id = &composite.id;
        let purposes: HashSet<&str> = config
            .gateway
            .sharing
            .purposes
            .iter()
            .map(|p| p.code.as_str())
            .collect();
        for (i, step) in composite.steps.iter().enumerate() {
            let sid = &step.id;
            for (j, ev) in step.evidence.iter().enumerate() {
                let eat = format!("{at}.steps.{i}.evidence.{j}");
                let name = &ev.name;
                if !is_field(name) {
                    self.gw(
                        doc,
                        &[&format!("{eat}.name"), &eat],
                        format!(
                            "composite `{id}` step `{sid}`: evidence name `{name}` must be 1-64 characters of letters, digits, _ and -"
                        ),
                    );
                } else if composite.input.iter().any(|f| &f.name == name) {
                    self.gw(
                        doc,
                        &[&format!("{eat}.name"), &eat],
                        format!(
                            "composite `{id}` step `{sid}`: evidence name `{name}` is also an input field"
                        ),
                    );
                } else if step.evidence[..j].iter().any(|e| &e.name == name) {
                    self.gw(
                        doc,
                        &[&format!("{eat}.name"), &eat],
                        format!("composite `{id}` step `{sid}`: duplicate evidence `{name}`"),
                    );
                }
                let item = ev.item.split_once('.').and_then(|(dept, item)| {
                    config
                        .departments
                        .iter()
                        .find(|d| d.file.department.id.get_ref() == dept)?
                        .file
                        .data_items
                        .iter()
                        .find(|d| d.id.get_ref() == item)
                });
                match item {
                    None => self.gw(
                        doc,
                        &[&format!("{eat}.item"), &eat],
                        format!(
                            "composite `{id}` step `{sid}`: evidence `{name}`: unknown data item `{}` (expected `<dept>.<item>` of a department's [[data_items]])",
                            ev.item
                        ),
                    ),
                    Some(item) => {
                        if ev.fields.is_empty() {
                            self.gw(
                                doc,
                                &[&format!("{eat}.fields"), &eat],
                                format!(
                                    "composite `{id}` step `{sid}`: evidence `{name}` must name at least one field"
                                ),
                            );
                        }
                        for (k, field) in ev.fields.iter().enumerate() {
                            if !item.fields.iter().any(|f| &f.name == field) {
                                self.gw(
                                    doc,
                                    &[&format!("{eat}.fields.{k}"), &format!("{eat}.fields"), &eat],
                                    format!(
                                        "composite `{id}` step `{sid}`: evidence `{name}`: data item `{}` declares no field `{field}`",
                                        ev.item
                                    ),
                                );
                            }
                        }
                    }
                }
                if !purposes.contains(ev.purpose.as_str()) {
                    self.gw(
                        doc,
                        &[&format!("{eat}.purpose"), &eat],
                        format!(
                            "composite `{id}` step `{sid}`: evidence `{name}`: unknown purpose `{}` (declare it in [[sharing.purposes]])",
                            ev.purpose
                        ),
                    );
                }
            }
        }
    }

    fn composite(
        &mut self,
        doc: &GatewayDoc<'_>,
        at: &str,
        composite: &Composite,
        departments: &HashSet<&str>,
    ) {
        let id = &composite.id;
        let mut fields = HashSet::new();
        for (i, field) in composite.input.iter().enumerate() {
            let key = format!("{at}.input.{i}.name");
            if !is_field(&field.name) {
                self.gw(
                    doc,
                    &[&key],
                    format!(
                        "composite `{id}`: input name `{}` must be 1-64 characters of letters, digits, _ and -",
                        field.name
                    ),
                );
            }
            if !fields.insert(field.name.as_str()) {
                self.gw(
                    doc,
                    &[&key],
                    format!("composite `{id}`: duplicate input `{}`", field.name),
                );
            }
        }
        if let Some(lead) = &composite.lead
            && !departments.contains(lead.as_str())
        {
            self.gw(
                doc,
                &[&format!("{at}.lead")],
                format!("composite `{id}`: lead department `{lead}` is not declared"),
            );
        }
        if composite.steps.is_empty() {
            self.gw(
                doc,
                &[&format!("{at}.steps"), at],
                format!("composite `{id}` needs at least one step"),
            );
            return;
        }
        let index: HashMap<&str, usize> = composite
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut seen = HashSet::new();
        for (i, step) in composite.steps.iter().enumerate() {
            let sat = format!("{at}.steps.{i}");
            let sid = &step.id;
            if !is_step_id(sid) {
                self.gw(
                    doc,
                    &[&format!("{sat}.id"), &sat],
                    format!(
                        "composite `{id}`: step id `{sid}` must be 1-32 characters of a-z, 0-9, - and _"
                    ),
                );
            }
            if !seen.insert(sid.as_str()) {
                self.gw(
                    doc,
                    &[&format!("{sat}.id")],
                    format!("composite `{id}`: duplicate step id `{sid}`"),
                );
            }
            if !departments.contains(step.dept.as_str()) {
                self.gw(
                    doc,
                    &[&format!("{sat}.dept")],
                    format!(
                        "composite `{id}` step `{sid}`: department `{}` is not declared",
                        step.dept
                    ),
                );
            }
            for dep in &step.after {
                if !index.contains_key(dep.as_str()) || dep == sid {
                    self.gw(
                        doc,
                        &[&format!("{sat}.after")],
                        format!(
                            "composite `{id}` step `{sid}`: `after` names unknown step `{dep}`"
                        ),
                    );
                }
            }
            if step.deadline.is_zero() || step.deadline > MAX_DEADLINE {
                self.gw(
                    doc,
                    &[&format!("{sat}.deadline")],
                    format!(
                        "composite `{id}` step `{sid}`: deadline must be more than 0 and at most 366 days"
                    ),
                );
            }
        }
        let Some(before) = ancestors(composite, &index) else {
            self.gw(
                doc,
                &[&format!("{at}.steps")],
                format!("composite `{id}`: the steps' `after` form a cycle"),
            );
            return;
        };
        for (i, step) in composite.steps.iter().enumerate() {
            let sat = format!("{at}.steps.{i}");
            let prefix = format!("/api/v1/depts/{}/", step.dept);
            let call = [(
                format!("{sat}.path"),
                format!("{sat}.method"),
                &step.method,
                &step.path,
                &step.body,
                false,
            )];
            let undo = step.compensate.iter().map(|c| {
                (
                    format!("{sat}.compensate.path"),
                    format!("{sat}.compensate.method"),
                    &c.method,
                    &c.path,
                    &c.body,
                    true,
                )
            });
            for (path_key, method_key, method, path, body, own) in call.into_iter().chain(undo) {
                let what = if own { "compensation" } else { "step" };
                let sid = &step.id;
                if !METHODS.contains(&method.as_str()) {
                    self.gw(
                        doc,
                        &[&method_key, &sat],
                        format!("composite `{id}` step `{sid}`: unknown {what} method `{method}`"),
                    );
                }
                if departments.contains(step.dept.as_str())
                    && (!path.starts_with(&prefix) || path.contains("..") || path.contains('?'))
                {
                    self.gw(
                        doc,
                        &[&path_key],
                        format!(
                            "composite `{id}` step `{sid}`: {what} path `{path}` must be below `{prefix}` (no query or `..`)"
                        ),
                    );
                }
                let mut templates = vec![path.as_str()];
                if let Some(body) = body {
                    templates.extend(body_strings(body));
                }
                for template in templates {
                    let problem = match parse_template(template) {
                        Err(e) => Some(e),
                        Ok(pieces) => pieces.iter().find_map(|p| match p {
                            Piece::Hole(Placeholder::Input(name)) if !fields.contains(name.as_str()) => {
                                Some(format!("`{{input.{name}}}` names no input field"))
                            }
                            Piece::Hole(Placeholder::Step(s, _))
                                if !(before[i].contains(s.as_str()) || (own && s == sid)) =>
                            {
                                Some(format!(
                                    "`{{steps.{s}…}}` names a step that is not done before this one (list it in `after`)"
                                ))
                            }
                            _ => None,
                        }),
                    };
                    if let Some(problem) = problem {
                        self.gw(
                            doc,
                            &[&path_key, &sat],
                            format!("composite `{id}` step `{sid}`: {what} template: {problem}"),
                        );
                    }
                }
            }
        }
    }
}

/// For each step, every step that is done before it (its `after`, their
/// `after`, …); `None` when the graph has a cycle. Unknown names are
/// skipped (reported elsewhere).
fn ancestors<'a>(
    composite: &'a Composite,
    index: &HashMap<&'a str, usize>,
) -> Option<Vec<HashSet<&'a str>>> {
    let n = composite.steps.len();
    let mut out: Vec<Option<HashSet<&str>>> = vec![None; n];
    // Kahn's order: a step after all of its dependencies.
    let deps: Vec<Vec<usize>> = composite
        .steps
        .iter()
        .map(|s| {
            s.after
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let mut done = 0;
    while done < n {
        let ready =
            (0..n).find(|&i| out[i].is_none() && deps[i].iter().all(|&d| out[d].is_some()))?;
        let mut set = HashSet::new();
        for &d in &deps[ready] {
            set.insert(composite.steps[d].id.as_str());
            set.extend(out[d].iter().flatten().copied());
        }
        out[ready] = Some(set);
        done += 1;
    }
    Some(out.into_iter().flatten().collect())
}

fn is_step_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_field(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
