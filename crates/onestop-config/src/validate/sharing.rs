//! Checks of the data catalog (`[[data_items]]`), of routes that declare a
//! `data_item`, and of `[sharing]`: ids, fields, masks only where they
//! mean something, no personal data shared unconditionally, fetch paths
//! below the department with one `{citizen}`.

use std::collections::HashSet;
use std::time::Duration;

use super::{GatewayDoc, Validator};
use crate::model::{Config, DepartmentSource};
use crate::sharing::{DataItem, SharingClass};

/// The shortest approval deadline and agreement term that make sense.
const MIN_TERM: Duration = Duration::from_secs(60);

/// A data item id: 1-48 characters of a-z, 0-9, `_` and `-`.
pub fn is_item_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Validator {
    pub(super) fn sharing_settings(&mut self, doc: &GatewayDoc<'_>, config: &Config) {
        let s = &config.gateway.sharing;
        for (key, value) in [
            ("approval_deadline", s.approval_deadline),
            ("max_term", s.max_term),
        ] {
            if value < MIN_TERM {
                self.gw(
                    doc,
                    &[&format!("sharing.{key}")],
                    format!("sharing.{key} must be at least 1m"),
                );
            }
        }
        if s.fetch_timeout.is_zero() || s.fetch_timeout > Duration::from_secs(60) {
            self.gw(
                doc,
                &["sharing.fetch_timeout"],
                "sharing.fetch_timeout must be more than 0 and at most 60s".into(),
            );
        }
        for (i, purpose) in s.purposes.iter().enumerate() {
            let at = format!("sharing.purposes.{i}");
            let code = &purpose.code;
            let valid = !code.is_empty()
                && code.len() <= 64
                && code.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
                });
            if !valid {
                self.gw(
                    doc,
                    &[&format!("{at}.code"), &at],
                    format!("purpose code `{code}` must be 1-64 of a-z, 0-9, -, _ and ."),
                );
            } else if s.purposes[..i].iter().any(|p| &p.code == code) {
                self.gw(
                    doc,
                    &[&format!("{at}.code"), &at],
                    format!("duplicate purpose `{code}`"),
                );
            }
            if purpose.name.trim().is_empty() {
                self.gw(
                    doc,
                    &[&format!("{at}.name"), &at],
                    format!("purpose `{code}`: name must not be empty"),
                );
            }
        }
        let a = &s.audit;
        if let Some(url) = &a.store_url
            && let Err(message) = super::check_store_url(url)
        {
            self.gw(doc, &["sharing.audit.store_url"], message);
        }
        if a.capacity == 0 || a.batch == 0 {
            self.gw(
                doc,
                &[
                    "sharing.audit.capacity",
                    "sharing.audit.batch",
                    "sharing.audit",
                ],
                "sharing.audit.capacity and sharing.audit.batch must be at least 1".into(),
            );
        }
        if a.flush_interval.is_zero() || a.max_lag.is_zero() {
            self.gw(
                doc,
                &[
                    "sharing.audit.flush_interval",
                    "sharing.audit.max_lag",
                    "sharing.audit",
                ],
                "sharing.audit.flush_interval and sharing.audit.max_lag must be more than 0".into(),
            );
        }
    }

    pub(super) fn data_items(&mut self, src: &DepartmentSource) {
        let dept = src.file.department.id.get_ref();
        let mut ids = HashSet::new();
        for item in &src.file.data_items {
            let id = item.id.get_ref();
            if !is_item_id(id) {
                self.at(
                    src,
                    &item.id,
                    format!("data item id `{id}` must be 1-48 characters of a-z, 0-9, _ and -"),
                );
            }
            if !ids.insert(id.as_str()) {
                self.at(
                    src,
                    &item.id,
                    format!("duplicate data item id `{id}` in department `{dept}`"),
                );
            }
            self.data_item(src, dept, item);
        }
        for route in &src.file.routes {
            if let Some(item) = &route.data_item
                && !ids.contains(item.as_str())
            {
                self.at(
                    src,
                    &route.id,
                    format!(
                        "route `{}`: data_item `{item}` is not a data item of department `{dept}`",
                        route.id.get_ref()
                    ),
                );
            }
        }
    }

    fn data_item(&mut self, src: &DepartmentSource, dept: &str, item: &DataItem) {
        let id = item.id.get_ref();
        if item.fields.is_empty() {
            self.at(
                src,
                &item.id,
                format!("data item `{id}` declares no fields"),
            );
        }
        let mut names = HashSet::new();
        for field in &item.fields {
            let name = field.name.as_str();
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                self.at(
                    src,
                    &item.id,
                    format!("data item `{id}`: field names must be 1-64 printable characters"),
                );
            }
            if !names.insert(name) {
                self.at(
                    src,
                    &item.id,
                    format!("data item `{id}`: duplicate field `{name}`"),
                );
            }
            if field.mask.is_some() && field.masking().is_none() {
                self.at(
                    src,
                    &item.id,
                    format!(
                        "data item `{id}`: field `{name}` is {}; `mask` applies only to sensitive fields",
                        field.sensitivity.as_str()
                    ),
                );
            }
        }
        if item.sharing == SharingClass::Unconditional && item.personal() {
            self.at(
                src,
                &item.id,
                format!(
                    "data item `{id}` holds personal data, so it cannot be shared unconditionally (use sharing = \"conditional\")"
                ),
            );
        }
        let fetch = item.fetch.get_ref();
        let base = format!("/api/v1/depts/{dept}/");
        let params = fetch.matches('{').count();
        if !fetch.starts_with(&base)
            || fetch.contains(['?', '#'])
            || fetch.split('/').filter(|s| *s == "{citizen}").count() != 1
            || params != 1
        {
            self.at(
                src,
                &item.fetch,
                format!(
                    "data item `{id}`: fetch must be a path under {base} with `{{citizen}}` as one whole segment and no other placeholder or query"
                ),
            );
        }
    }
}
