//! The checks of an application for a sharing agreement, pure: the item
//! is in the catalog and shared, the fields are the item's, fields granted
//! in clear are sensitive ones among them, a purpose code, a legal basis,
//! and an expiry within the allowed term.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use onestop_config::SharingClass;
use onestop_core::problem::Problem;
use onestop_store::Millis;

use crate::catalog::{Catalog, Item};

/// What a consumer applies for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// `<provider>.<item>`.
    pub item: String,
    pub fields: Vec<String>,
    /// Sensitive fields among `fields` to receive unmasked.
    pub clear_fields: Vec<String>,
    pub purpose: String,
    pub legal_basis: String,
    pub expires_at: Millis,
}

/// A purpose code: 1-64 of a-z, 0-9, `-`, `_` and `.`.
pub fn check_purpose(purpose: &str) -> Result<(), String> {
    let ok = !purpose.is_empty()
        && purpose.len() <= 64
        && purpose.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err("must be a purpose code: 1-64 of a-z, 0-9, -, _ and .".into())
    }
}

/// The item applied for, or every problem with the application.
pub fn check(
    catalog: &Catalog,
    consumer: &str,
    app: &Application,
    now: Millis,
    max_term: Duration,
) -> Result<Arc<Item>, Vec<Problem>> {
    let mut problems = Vec::new();
    let item = catalog.get(&app.item).cloned();
    match &item {
        None => problems.push(Problem::new(
            "item",
            format!("`{}` is not in the data catalog", app.item),
        )),
        Some(i) if i.sharing == SharingClass::NotShared => {
            problems.push(Problem::new("item", format!("`{}` is not shared", i.id)))
        }
        Some(i) if i.dept == consumer => problems.push(Problem::new(
            "item",
            "a department needs no agreement for its own data",
        )),
        Some(_) => {}
    }
    if app.fields.is_empty() {
        problems.push(Problem::new("fields", "name at least one field"));
    }
    let mut seen = HashSet::new();
    for (i, f) in app.fields.iter().enumerate() {
        if !seen.insert(f.as_str()) {
            problems.push(Problem::new(
                format!("fields[{i}]"),
                format!("`{f}` is named twice"),
            ));
        } else if let Some(item) = &item
            && item.field(f).is_none()
        {
            problems.push(Problem::new(
                format!("fields[{i}]"),
                format!("`{f}` is not a field of `{}`", item.id),
            ));
        }
    }
    for (i, f) in app.clear_fields.iter().enumerate() {
        let at = format!("clear_fields[{i}]");
        if !app.fields.contains(f) {
            problems.push(Problem::new(at, format!("`{f}` is not among `fields`")));
        } else if let Some(item) = &item
            && item.field(f).is_some_and(|field| field.mask.is_none())
        {
            problems.push(Problem::new(
                at,
                format!("`{f}` is not sensitive, so it is never masked"),
            ));
        }
    }
    if let Err(m) = check_purpose(&app.purpose) {
        problems.push(Problem::new("purpose", m));
    }
    let basis = app.legal_basis.trim();
    if basis.is_empty() || basis.chars().count() > 512 {
        problems.push(Problem::new("legal_basis", "must be 1-512 characters"));
    }
    if app.expires_at <= now {
        problems.push(Problem::new("expires_at", "must be in the future"));
    } else if app.expires_at - now > crate::millis(max_term) {
        problems.push(Problem::new(
            "expires_at",
            format!(
                "must be within {} (sharing.max_term)",
                humantime_days(max_term)
            ),
        ));
    }
    match item {
        Some(item) if problems.is_empty() => Ok(item),
        _ => Err(problems),
    }
}

fn humantime_days(d: Duration) -> String {
    format!("{} days", d.as_secs() / 86_400)
}

#[cfg(test)]
mod tests;
