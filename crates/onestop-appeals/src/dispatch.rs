//! Dispatch (派单): which department an appeal goes to.
//!
//! The operators' rules are tried in order and the first that matches
//! decides; a rule matches when every condition it states holds (its kinds
//! hold the appeal's kind, its matters hold the appeal's catalog matter,
//! one of its keywords is in the title or content). No rule: the matter's
//! own department; else the citizen's hint when it names a known
//! department; else the operators' queue.

use std::collections::BTreeSet;

use crate::model::Kind;

/// One dispatch rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// The department it sends to.
    pub dept: String,
    /// Kinds it applies to (empty: any kind).
    pub kinds: Vec<Kind>,
    /// Catalog matters it applies to (empty: any matter, or none).
    pub matters: Vec<String>,
    /// Words of which one must appear in the title or content (empty: no
    /// condition).
    pub keywords: Vec<String>,
}

impl Rule {
    fn matches(&self, kind: Kind, matter: Option<&str>, title: &str, content: &str) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && (self.matters.is_empty()
                || matter.is_some_and(|m| self.matters.iter().any(|r| r == m)))
            && (self.keywords.is_empty()
                || self
                    .keywords
                    .iter()
                    .any(|w| title.contains(w.as_str()) || content.contains(w.as_str())))
    }
}

/// Where an appeal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// To this department, and why (for the timeline).
    Dept {
        /// The department id.
        dept: String,
        /// `rule N`, `matter`, or `hint`.
        by: String,
    },
    /// Nobody decided: the operators' queue.
    Operators,
}

/// The dispatch rules and what they need to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Tried in order.
    pub rules: Vec<Rule>,
    /// Departments that exist (hints naming anything else are ignored).
    pub depts: BTreeSet<String>,
}

impl Rules {
    /// Decide where an appeal goes. `matter_dept` is the department owning
    /// the appeal's catalog matter, when it names one that exists.
    pub fn decide(
        &self,
        kind: Kind,
        matter: Option<&str>,
        matter_dept: Option<&str>,
        title: &str,
        content: &str,
        hint: Option<&str>,
    ) -> Destination {
        if let Some((i, r)) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(kind, matter, title, content))
        {
            return Destination::Dept {
                dept: r.dept.clone(),
                by: format!("rule {}", i + 1),
            };
        }
        if let Some(d) = matter_dept.filter(|d| self.depts.contains(*d)) {
            return Destination::Dept {
                dept: d.to_owned(),
                by: "matter".into(),
            };
        }
        if let Some(d) = hint.filter(|d| self.depts.contains(*d)) {
            return Destination::Dept {
                dept: d.to_owned(),
                by: "hint".into(),
            };
        }
        Destination::Operators
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            rules: vec![
                Rule {
                    dept: "emergency".into(),
                    kinds: vec![Kind::Emergency],
                    ..Rule::default()
                },
                Rule {
                    dept: "water".into(),
                    keywords: vec!["停水".into(), "水管".into()],
                    ..Rule::default()
                },
                Rule {
                    dept: "market".into(),
                    kinds: vec![Kind::Complaint, Kind::Report],
                    keywords: vec!["商家".into()],
                    ..Rule::default()
                },
                Rule {
                    dept: "hpf".into(),
                    matters: vec!["hpf.balance".into()],
                    ..Rule::default()
                },
            ],
            depts: ["water", "market", "hpf", "hrss", "emergency"]
                .map(String::from)
                .into(),
        }
    }

    fn to(dept: &str, by: &str) -> Destination {
        Destination::Dept {
            dept: dept.into(),
            by: by.into(),
        }
    }

    #[test]
    fn first_matching_rule_then_matter_then_hint_then_operators() {
        let r = rules();
        let d = |kind, matter, mdept, title, content, hint| {
            r.decide(kind, matter, mdept, title, content, hint)
        };
        assert_eq!(
            d(Kind::Emergency, None, None, "停水", "", Some("hrss")),
            to("emergency", "rule 1")
        );
        assert_eq!(
            d(Kind::Help, None, None, "小区停水", "", Some("hrss")),
            to("water", "rule 2")
        );
        assert_eq!(
            d(Kind::Consult, None, None, "", "水管爆了", None),
            to("water", "rule 2")
        );
        assert_eq!(
            d(Kind::Complaint, None, None, "商家不退款", "", None),
            to("market", "rule 3")
        );
        // The kind condition holds back rule 3 for a consultation.
        assert_eq!(
            d(Kind::Consult, None, None, "商家营业时间", "", None),
            Destination::Operators
        );
        assert_eq!(
            d(
                Kind::Consult,
                Some("hpf.balance"),
                Some("hpf"),
                "余额",
                "",
                None
            ),
            to("hpf", "rule 4")
        );
        assert_eq!(
            d(
                Kind::Consult,
                Some("hrss.pension"),
                Some("hrss"),
                "养老金",
                "",
                None
            ),
            to("hrss", "matter")
        );
        assert_eq!(
            d(Kind::Suggestion, None, None, "建议", "", Some("hrss")),
            to("hrss", "hint")
        );
        // Hints and matters naming unknown departments are ignored.
        assert_eq!(
            d(
                Kind::Suggestion,
                None,
                Some("nope"),
                "建议",
                "",
                Some("ghost")
            ),
            Destination::Operators
        );
    }
}
