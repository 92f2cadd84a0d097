//! The `google.api.http` method option, read without depending on the
//! descriptor set's own copy of `google/api/http.proto`.

use prost::Message as _;
use prost_reflect::MethodDescriptor;

/// `google.api.HttpRule` (the fields transcoding uses).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HttpRule {
    #[prost(oneof = "Pattern", tags = "2, 3, 4, 5, 6, 8")]
    pub pattern: Option<Pattern>,
    #[prost(string, tag = "7")]
    pub body: String,
    #[prost(string, tag = "12")]
    pub response_body: String,
    #[prost(message, repeated, tag = "11")]
    pub additional_bindings: Vec<HttpRule>,
}

/// `google.api.HttpRule.pattern`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum Pattern {
    #[prost(string, tag = "2")]
    Get(String),
    #[prost(string, tag = "3")]
    Put(String),
    #[prost(string, tag = "4")]
    Post(String),
    #[prost(string, tag = "5")]
    Delete(String),
    #[prost(string, tag = "6")]
    Patch(String),
    #[prost(message, tag = "8")]
    Custom(CustomHttpPattern),
}

/// `google.api.CustomHttpPattern`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct CustomHttpPattern {
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(string, tag = "2")]
    pub path: String,
}

/// `google.protobuf.MethodOptions`, reduced to the `google.api.http` extension.
#[derive(Clone, PartialEq, prost::Message)]
struct MethodOptionsHttp {
    #[prost(message, optional, tag = "72295728")]
    http: Option<HttpRule>,
}

/// The method's `google.api.http` rule, if it has one.
///
/// The options are re-encoded and decoded into [`HttpRule`], so this works
/// whether the pool knows the extension (then prost-reflect parsed it) or
/// not (then it is kept as an unknown field).
pub(crate) fn http_rule(method: &MethodDescriptor) -> Result<Option<HttpRule>, String> {
    let options = method.options().encode_to_vec();
    MethodOptionsHttp::decode(options.as_slice())
        .map(|o| o.http)
        .map_err(|e| format!("cannot decode its google.api.http option: {e}"))
}
