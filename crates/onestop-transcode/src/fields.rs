//! Field paths resolved against message descriptors, and the text form of
//! scalar values (path and query parameters).

use std::num::{IntErrorKind, ParseIntError};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value,
};

/// Resolves a dotted path in `message`. Each segment is an original (proto)
/// field name or its JSON name; every segment but the last must be a
/// singular message field. The error says which segment failed.
pub(crate) fn resolve<'a>(
    message: &MessageDescriptor,
    path: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<FieldDescriptor>, String> {
    let mut fields: Vec<FieldDescriptor> = Vec::with_capacity(2);
    let mut current = message.clone();
    for name in path {
        if let Some(parent) = fields.last() {
            match parent.kind() {
                Kind::Message(m) if !parent.is_list() && !parent.is_map() => current = m,
                _ => {
                    return Err(format!(
                        "field {:?} of {} is not a singular message, so it has no field {name:?}",
                        parent.name(),
                        current.full_name(),
                    ));
                }
            }
        }
        let field = current
            .get_field_by_name(name)
            .or_else(|| current.get_field_by_json_name(name))
            .ok_or_else(|| format!("no field {name:?} in {}", current.full_name()))?;
        fields.push(field);
    }
    if fields.is_empty() {
        return Err("empty field path".into());
    }
    Ok(fields)
}

/// Well-known message types whose JSON form is a single string or number,
/// which therefore can be path or query parameters.
fn is_scalar_message(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

/// Whether one value of the field has a text form (scalars, enums and the
/// scalar well-known types). Says nothing about repetition.
pub(crate) fn has_scalar_kind(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Message(m) => !field.is_map() && is_scalar_message(&m),
        _ => true,
    }
}

/// Describes a field's kind for error messages ("int32", "message onestop.x.Y").
pub(crate) fn kind_name(field: &FieldDescriptor) -> String {
    let base = match field.kind() {
        Kind::Message(m) => format!("message {}", m.full_name()),
        Kind::Enum(e) => format!("enum {}", e.full_name()),
        k => format!("{k:?}").to_lowercase(),
    };
    if field.is_map() {
        "map".into()
    } else if field.is_list() {
        format!("repeated {base}")
    } else {
        base
    }
}

/// The message holding the last field of `fields`, created on the way
/// (`None` only if `fields` does not describe a path in `message`).
pub(crate) fn parent_mut<'m>(
    message: &'m mut DynamicMessage,
    fields: &[FieldDescriptor],
) -> Option<&'m mut DynamicMessage> {
    let (_, inner) = fields.split_last()?;
    let mut current = message;
    for field in inner {
        current = match current.get_field_mut(field) {
            Value::Message(m) => m,
            _ => return None,
        };
    }
    Some(current)
}

/// Base64 in either alphabet, padded or not, as the proto3 JSON mapping accepts.
const STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Converts the text of a path or query parameter to one value of `field`
/// (scalars, enums by name or number, bytes as base64, and the scalar
/// well-known types such as wrappers, `Timestamp` and `Duration`).
pub(crate) fn parse_value(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    match field.kind() {
        Kind::Message(m) if is_scalar_message(&m) => parse_scalar_message(&m, text),
        Kind::Message(m) => Err(format!(
            "not a scalar field (message {}); it cannot be given as text",
            m.full_name()
        )),
        kind => parse_scalar(&kind, text),
    }
}

fn parse_scalar(kind: &Kind, text: &str) -> Result<Value, String> {
    Ok(match kind {
        Kind::String => Value::String(text.to_owned()),
        Kind::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("invalid bool {text:?}: expected true or false")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(parse_int(text, "int32")?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(parse_int(text, "int64")?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(parse_int(text, "uint32")?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(parse_int(text, "uint64")?),
        Kind::Double => Value::F64(parse_float(text, "double")?),
        Kind::Float => {
            let v = parse_float(text, "float")?;
            if v.is_finite() && v.abs() > f64::from(f32::MAX) {
                return Err(format!("value {text} is out of range for float"));
            }
            Value::F32(v as f32)
        }
        Kind::Bytes => Value::Bytes(parse_bytes(text)?.into()),
        Kind::Enum(e) => Value::EnumNumber(parse_enum(e, text)?),
        Kind::Message(m) => return Err(format!("message {} is not a scalar", m.full_name())),
    })
}

fn parse_int<T: FromStr<Err = ParseIntError>>(text: &str, type_name: &str) -> Result<T, String> {
    text.parse::<T>().map_err(|e| {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let literal = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        match e.kind() {
            IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
                format!("value {text} is out of range for {type_name}")
            }
            // "-1" for an unsigned type.
            _ if literal => format!("value {text} is out of range for {type_name}"),
            _ => format!("invalid {type_name} {text:?}"),
        }
    })
}

fn parse_float(text: &str, type_name: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ if text
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            Err(format!("invalid {type_name} {text:?}"))
        }
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("invalid {type_name} {text:?}")),
    }
}

fn parse_bytes(text: &str) -> Result<Vec<u8>, String> {
    let engine = if text.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    engine
        .decode(text)
        .map_err(|e| format!("invalid base64 bytes: {e}"))
}

fn parse_enum(e: &EnumDescriptor, text: &str) -> Result<i32, String> {
    if let Some(v) = e.get_value_by_name(text) {
        return Ok(v.number());
    }
    text.parse::<i32>()
        .map_err(|_| format!("unknown value {text:?} for enum {}", e.full_name()))
}

fn parse_scalar_message(message: &MessageDescriptor, text: &str) -> Result<Value, String> {
    let parsed = match message.get_field(1) {
        // Wrappers: `value = 1` holds the scalar.
        Some(inner) if message.full_name().ends_with("Value") => {
            let mut wrapper = DynamicMessage::new(message.clone());
            wrapper.set_field(&inner, parse_scalar(&inner.kind(), text)?);
            wrapper
        }
        // Timestamp, Duration, FieldMask: their JSON form is a string.
        _ => {
            DynamicMessage::deserialize(message.clone(), serde_json::Value::String(text.to_owned()))
                .map_err(|e| format!("invalid {}: {e}", message.full_name()))?
        }
    };
    Ok(Value::Message(parsed))
}
