//! JSON ↔ gRPC transcoding from protobuf descriptors. Pure: no I/O.
//!
//! - [`Descriptors`]: a decoded `FileDescriptorSet` (built with
//!   `protoc --include_imports`).
//! - [`compile`]: a service's methods and their HTTP [`Binding`]s, from
//!   `google.api.http` options (read from the method options by field
//!   number 72295728, so any copy of `google/api/annotations.proto` in the
//!   set works) or the default `POST /api/v1/rpc/{package.Service}/{Method}`.
//! - [`Table`]: finds the binding of an HTTP request among many services.
//! - [`Method::request`]: path + query + JSON body → request message, or a
//!   [`BadRequest`] naming the field.
//! - [`to_json`], [`ndjson_line`], [`sse_event`], [`sse_error`],
//!   [`StreamFormat`]: response messages → HTTP bodies.
//! - [`http_status`], [`code_name`]: gRPC codes in HTTP terms.
//! - [`DynamicCodec`]: a tonic codec for [`prost_reflect::DynamicMessage`].

mod codec;
mod compile;
mod descriptors;
mod field_path;
mod fields;
mod http_rule;
mod request;
mod response;
mod status;
mod table;
mod template;

pub use codec::{DynamicCodec, DynamicDecoder, DynamicEncoder};
pub use compile::{
    Binding, BodyRule, CompileError, DEFAULT_RPC_PREFIX, Method, ServiceBindings, compile,
};
pub use descriptors::{DescriptorError, Descriptors};
pub use field_path::{FieldPath, FieldPathError};
pub use prost_reflect;
pub use request::BadRequest;
pub use response::{StreamFormat, ndjson_line, sse_error, sse_event, to_json};
pub use status::{code_name, http_status};
pub use table::{Lookup, Table};
pub use template::{PathTemplate, TemplateError};
