//! The check of a citizen's submission: every field, each error naming it.

use serde_json::{Map, Value};

use crate::model::Kind;

/// Limits on a submission (from `[appeals]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLimits {
    /// Longest title, in characters.
    pub max_title_chars: usize,
    /// Longest content, in characters.
    pub max_content_chars: usize,
    /// Longest address, in characters.
    pub max_address_chars: usize,
    /// Largest attachment, in bytes.
    pub max_attachment_bytes: u64,
    /// Most attachments per submission or reply.
    pub max_attachments: usize,
    /// Media types attachments may have (each also recognised by its
    /// magic bytes: see [`crate::attachment::sniff`]).
    pub attachment_types: Vec<String>,
}

impl Default for InputLimits {
    fn default() -> InputLimits {
        InputLimits {
            max_title_chars: 100,
            max_content_chars: 2_000,
            max_address_chars: 200,
            max_attachment_bytes: 5 * 1024 * 1024,
            max_attachments: 5,
            attachment_types: vec![
                "image/jpeg".into(),
                "image/png".into(),
                "application/pdf".into(),
            ],
        }
    }
}

/// Where the matter is (the seeds ask for a location).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Location {
    /// The address as the citizen wrote it.
    pub address: String,
    /// Latitude, −90..90.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude, −180..180.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lng: Option<f64>,
}

/// A checked submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// What it is.
    pub kind: Kind,
    /// A short title.
    pub title: String,
    /// What the citizen says.
    pub content: String,
    /// The department the citizen thinks it is for (a hint only).
    pub dept: Option<String>,
    /// The catalog matter it is about (`dept/route`).
    pub matter: Option<String>,
    /// Where.
    pub location: Option<Location>,
    /// Whether the citizen agrees to publish it, masked, once closed.
    pub disclose: bool,
    /// Content hashes (`sha256:<hex>`) of uploaded attachments, each once.
    pub attachments: Vec<String>,
}

impl Submission {
    /// The department of the catalog matter (`dept/route` → `dept`).
    pub fn matter_dept(&self) -> Option<&str> {
        self.matter
            .as_deref()
            .and_then(|m| m.split_once('/'))
            .map(|(d, _)| d)
    }
}

/// A field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field's path (`kind`, `location.lat`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

const FIELDS: &[&str] = &[
    "kind",
    "title",
    "content",
    "dept",
    "matter",
    "location",
    "attachments",
    "disclose",
];

fn text(
    obj: &Map<String, Value>,
    field: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(err(field, "required")),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                return Err(err(field, "must not be empty"));
            }
            let n = t.chars().count();
            if n > max {
                return Err(err(field, format!("{n} characters, at most {max}")));
            }
            if t.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
            {
                return Err(err(field, "holds control characters"));
            }
            Ok(Some(t.to_owned()))
        }
        Some(_) => Err(err(field, "must be a string")),
    }
}

/// A department id, or a catalog matter (`dept/route`) when `slash`.
fn id(obj: &Map<String, Value>, field: &str, slash: bool) -> Result<Option<String>, FieldError> {
    let Some(s) = text(obj, field, 128, false)? else {
        return Ok(None);
    };
    let ok =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || (slash && c == '/');
    if !s.chars().all(ok) {
        let allowed = if slash {
            "letters, digits, `-`, `_`, `.` and `/`"
        } else {
            "letters, digits, `-`, `_` and `.`"
        };
        return Err(err(field, format!("may hold only {allowed}")));
    }
    Ok(Some(s))
}

fn coordinate(
    loc: &Map<String, Value>,
    field: &str,
    bound: f64,
) -> Result<Option<f64>, FieldError> {
    let path = format!("location.{field}");
    match loc.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && (-bound..=bound).contains(&v) => Ok(Some(v)),
            _ => Err(err(&path, format!("must be between -{bound} and {bound}"))),
        },
        Some(_) => Err(err(&path, "must be a number")),
    }
}

fn location(v: Option<&Value>, limits: &InputLimits) -> Result<Option<Location>, FieldError> {
    let loc = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(err("location", "must be an object")),
    };
    if let Some(k) = loc
        .keys()
        .find(|k| !matches!(k.as_str(), "address" | "lat" | "lng"))
    {
        return Err(err(&format!("location.{k}"), "unknown field"));
    }
    let address = text(loc, "address", limits.max_address_chars, true)
        .map_err(|e| err("location.address", e.message))?
        .unwrap_or_default();
    let lat = coordinate(loc, "lat", 90.0)?;
    let lng = coordinate(loc, "lng", 180.0)?;
    if lat.is_some() != lng.is_some() {
        let missing = if lat.is_none() {
            "location.lat"
        } else {
            "location.lng"
        };
        return Err(err(missing, "lat and lng go together"));
    }
    Ok(Some(Location { address, lat, lng }))
}

/// Check a submission's JSON body.
pub fn parse_submission(body: &Value, limits: &InputLimits) -> Result<Submission, FieldError> {
    let Value::Object(obj) = body else {
        return Err(err("body", "must be a JSON object"));
    };
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(err(k, "unknown field"));
    }
    let kind = match obj.get("kind") {
        None | Some(Value::Null) => return Err(err("kind", "required")),
        Some(Value::String(s)) => s.parse::<Kind>().map_err(|_| {
            err("kind", "unknown kind (one of consult, help, complaint, report, suggestion, praise, emergency)")
        })?,
        Some(_) => return Err(err("kind", "must be a string")),
    };
    let title = text(obj, "title", limits.max_title_chars, true)?.unwrap_or_default();
    let content = text(obj, "content", limits.max_content_chars, true)?.unwrap_or_default();
    let dept = id(obj, "dept", false)?;
    let matter = id(obj, "matter", true)?;
    let location = location(obj.get("location"), limits)?;
    if kind == Kind::Emergency && location.is_none() {
        return Err(err("location", "required for an emergency"));
    }
    let attachments = attachments(obj.get("attachments"), limits)?;
    let disclose = match obj.get("disclose") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err("disclose", "must be true or false")),
    };
    Ok(Submission {
        kind,
        title,
        content,
        dept,
        matter,
        location,
        disclose,
        attachments,
    })
}

/// `attachments`: an array of at most `max_attachments` distinct content
/// hashes (`sha256:<64 lowercase hex>`, as the upload answered them).
pub fn attachments(value: Option<&Value>, limits: &InputLimits) -> Result<Vec<String>, FieldError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(err("attachments", "must be an array of attachment ids")),
    };
    if items.len() > limits.max_attachments {
        return Err(err(
            "attachments",
            format!(
                "{} attachments, at most {}",
                items.len(),
                limits.max_attachments
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("attachments[{i}]");
        let Some(id) = item.as_str() else {
            return Err(err(&field, "must be an attachment id (sha256:…)"));
        };
        if !crate::attachment::is_content_hash(id) {
            return Err(err(
                &field,
                "must be an attachment id (sha256:<64 hex digits>)",
            ));
        }
        if out.iter().any(|o| o == id) {
            return Err(err(&field, "named twice"));
        }
        out.push(id.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
