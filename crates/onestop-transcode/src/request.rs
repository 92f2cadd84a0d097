//! HTTP request → request message.

use std::fmt::Write as _;

use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor,
    ReflectMessage as _, Value,
};

use crate::compile::{Binding, BodyRule, Method};
use crate::field_path::FieldPath;
use crate::fields::{has_scalar_kind, kind_name, parent_mut, parse_value, resolve};
use crate::template::percent_decode;

/// A request that does not fit the method's request message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct BadRequest {
    /// Which part failed: a proto3 JSON path into the request message such
    /// as `deductions[1].amountFen` for body fields (JSON names, as the
    /// client wrote them, prefixed by the body field for `body: "field"`
    /// rules), the parameter name as written (e.g. `citizen_id`, `ref.id`)
    /// for path and query parameters, or "" for the body as a whole
    /// (invalid JSON, or a body where none is accepted).
    pub field: String,
    /// What is wrong, e.g. serde_json's message with line and column.
    pub message: String,
}

impl BadRequest {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    fn describe(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

impl Method {
    /// Builds the request message of a call through `binding`:
    ///
    /// 1. the JSON body per the binding's body rule (proto3 JSON mapping:
    ///    lowerCamelCase or original names, 64-bit integers as strings or
    ///    numbers, enums by name or number, well-known types in their JSON
    ///    forms; unknown fields are rejected). An empty (or all-whitespace)
    ///    body gives the default message; a non-empty body where the rule
    ///    is [`BodyRule::None`] is an error.
    /// 2. the path parameters (`params` from the template match); an empty
    ///    value is a "missing path parameter".
    /// 3. the query parameters (`a.b=1`; a repeated field by repeating the
    ///    key; `+` and percent escapes decoded). Only fields bound by neither
    ///    the path nor the body are accepted (with `body: "*"`, none); an
    ///    unknown field, a non-scalar field or a singular field given twice
    ///    is an error naming the parameter.
    ///
    /// Path and query values are converted by the target field's kind:
    /// string, bool (`true`/`false`), integers with range checks, float and
    /// double (also `NaN`, `Infinity`), enum by name or number, bytes as
    /// base64 (either alphabet, padding optional), and the scalar
    /// well-known types (wrappers, `Timestamp`, `Duration`, `FieldMask`).
    pub fn request(
        &self,
        binding: &Binding,
        params: &[(FieldPath, String)],
        query: Option<&str>,
        body: &[u8],
    ) -> Result<DynamicMessage, BadRequest> {
        let mut message = self.body_message(&binding.body, body)?;
        for (path, value) in params {
            set_path_param(&mut message, path, value)?;
        }
        if let Some(query) = query {
            apply_query(&mut message, binding, query)?;
        }
        Ok(message)
    }

    fn body_message(&self, rule: &BodyRule, body: &[u8]) -> Result<DynamicMessage, BadRequest> {
        let blank = body.iter().all(u8::is_ascii_whitespace);
        match rule {
            _ if blank => Ok(DynamicMessage::new(self.input.clone())),
            BodyRule::None => Err(BadRequest::new(
                "",
                "this method takes no request body (send the fields as query parameters)",
            )),
            BodyRule::Whole => parse_message(self.input.clone(), body, ""),
            BodyRule::Field(path) => {
                let mut message = DynamicMessage::new(self.input.clone());
                let fields = resolve(&self.input, path.segments())
                    .map_err(|e| BadRequest::new(path.as_str(), e))?;
                let (leaf, parents) = fields
                    .split_last()
                    .ok_or_else(|| BadRequest::new(path.as_str(), "empty body field path"))?;
                let prefix = json_path(parents);
                let value = match leaf.kind() {
                    Kind::Message(m) if !leaf.is_list() && !leaf.is_map() => {
                        let prefix = join(&prefix, leaf.json_name());
                        Value::Message(parse_message(m, body, &prefix)?)
                    }
                    _ => parse_field(leaf, body, &prefix)?,
                };
                parent_mut(&mut message, &fields)
                    .ok_or_else(|| BadRequest::new(path.as_str(), "cannot set the body field"))?
                    .set_field(leaf, value);
                Ok(message)
            }
        }
    }
}

/// `a.b` from fields' JSON names.
fn json_path(fields: &[FieldDescriptor]) -> String {
    let mut path = String::new();
    for f in fields {
        path = join(&path, f.json_name());
    }
    path
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if rest.starts_with('[') => format!("{prefix}{rest}"),
        _ => format!("{prefix}.{rest}"),
    }
}

/// Parses a JSON document into a message of type `desc`; errors are
/// reported at `prefix` + the path inside the document.
fn parse_message(
    desc: MessageDescriptor,
    body: &[u8],
    prefix: &str,
) -> Result<DynamicMessage, BadRequest> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut track = serde_path_to_error::Track::new();
    let parsed = DynamicMessage::deserialize_with_options(
        desc,
        serde_path_to_error::Deserializer::new(&mut de, &mut track),
        &DeserializeOptions::new(),
    );
    match parsed.and_then(|m| de.end().map(|()| m)) {
        Ok(message) => Ok(message),
        Err(e) => Err(json_error(&e, track.path(), prefix)),
    }
}

/// Parses a JSON document as the value of a non-message (or repeated or
/// map) field, by deserializing `{"<field>": <document>}` into its message.
fn parse_field(field: &FieldDescriptor, body: &[u8], prefix: &str) -> Result<Value, BadRequest> {
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| BadRequest::new("", e.to_string()))?;
    let mut wrapper = serde_json::Map::new();
    wrapper.insert(field.json_name().to_owned(), document);
    let mut track = serde_path_to_error::Track::new();
    let parsed = DynamicMessage::deserialize_with_options(
        field.parent_message().clone(),
        serde_path_to_error::Deserializer::new(serde_json::Value::Object(wrapper), &mut track),
        &DeserializeOptions::new(),
    );
    match parsed {
        Ok(mut message) => Ok(message
            .take_field(field)
            .unwrap_or_else(|| Value::default_value_for_field(field))),
        Err(e) => Err(json_error(&e, track.path(), prefix)),
    }
}

/// A serde_json error as a [`BadRequest`]: syntax errors concern the whole
/// body (""); data errors name the field path where they happened.
fn json_error(e: &serde_json::Error, path: serde_path_to_error::Path, prefix: &str) -> BadRequest {
    if e.is_syntax() || e.is_eof() || e.is_io() {
        return BadRequest::new("", e.to_string());
    }
    let mut field = render_path(&path);
    // prost-reflect rejects an unknown key before reading its value, so the
    // tracked path ends at the enclosing object: add the key.
    if let Some(name) = e
        .to_string()
        .strip_prefix("unrecognized field name '")
        .and_then(|rest| rest.split_once('\''))
        .map(|(name, _)| name.to_owned())
    {
        field = join(&field, &name);
    }
    BadRequest::new(join(prefix, &field), e.to_string())
}

/// `deductions[1].amountFen`; "" for the document itself.
fn render_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            serde_path_to_error::Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

/// Sets one path parameter; the error names it as written in the template.
fn set_path_param(
    message: &mut DynamicMessage,
    path: &FieldPath,
    value: &str,
) -> Result<(), BadRequest> {
    let bad = |m: String| BadRequest::new(path.as_str(), m);
    if value.is_empty() {
        return Err(bad("missing path parameter".into()));
    }
    let fields = resolve(&message.descriptor(), path.segments()).map_err(bad)?;
    let leaf = scalar_leaf(&fields).map_err(bad)?;
    if leaf.is_list() {
        return Err(bad(format!(
            "a {} cannot be a path parameter",
            kind_name(leaf)
        )));
    }
    let value = parse_value(leaf, value).map_err(bad)?;
    parent_mut(message, &fields)
        .ok_or_else(|| bad("cannot set this field".into()))?
        .set_field(leaf, value);
    Ok(())
}

/// The last field, if one value of it has a text form.
fn scalar_leaf(fields: &[FieldDescriptor]) -> Result<&FieldDescriptor, String> {
    match fields.last() {
        Some(leaf) if has_scalar_kind(leaf) => Ok(leaf),
        Some(leaf) => Err(format!(
            "{} is a {}, not a scalar field",
            leaf.name(),
            kind_name(leaf)
        )),
        None => Err("empty field path".into()),
    }
}

/// Whether `fields` is `bound` or lies under it (compared by field number,
/// so JSON and original names are alike).
fn is_under(fields: &[FieldDescriptor], bound: &[FieldDescriptor]) -> bool {
    bound.len() <= fields.len()
        && bound
            .iter()
            .zip(fields)
            .all(|(b, f)| b.number() == f.number())
}

fn resolves_under(input: &MessageDescriptor, fields: &[FieldDescriptor], path: &FieldPath) -> bool {
    resolve(input, path.segments()).is_ok_and(|bound| is_under(fields, &bound))
}

fn apply_query(
    message: &mut DynamicMessage,
    binding: &Binding,
    query: &str,
) -> Result<(), BadRequest> {
    let input = message.descriptor();
    let mut seen: Vec<Vec<u32>> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key, true, false);
        let value = percent_decode(value, true, false);
        let bad = |m: &str| BadRequest::new(key.as_ref(), m);
        let fields = resolve(&input, key.split('.'))
            .map_err(|e| bad(&format!("unknown query parameter ({e})")))?;
        match &binding.body {
            BodyRule::Whole => {
                return Err(bad(
                    "query parameters are not accepted here: the request body holds every field",
                ));
            }
            BodyRule::Field(body) if resolves_under(&input, &fields, body) => {
                return Err(bad("this field is bound by the request body"));
            }
            _ => {}
        }
        if binding
            .template
            .variables()
            .any(|v| resolves_under(&input, &fields, v))
        {
            return Err(bad("this field is bound by the URL path"));
        }
        let leaf = scalar_leaf(&fields).map_err(|e| bad(&e))?;
        let parsed = parse_value(leaf, &value).map_err(|e| bad(&e))?;
        let parent = parent_mut(message, &fields).ok_or_else(|| bad("cannot set this field"))?;
        if leaf.is_list() {
            if let Value::List(items) = parent.get_field_mut(leaf) {
                items.push(parsed);
            }
        } else {
            let numbers: Vec<u32> = fields.iter().map(FieldDescriptor::number).collect();
            if seen.contains(&numbers) {
                return Err(bad("given more than once, but the field is not repeated"));
            }
            seen.push(numbers);
            parent.set_field(leaf, parsed);
        }
    }
    Ok(())
}
