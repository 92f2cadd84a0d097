//! Compiling a service's methods into HTTP bindings.

use prost_reflect::{MessageDescriptor, MethodDescriptor, ServiceDescriptor};

use crate::descriptors::Descriptors;
use crate::field_path::FieldPath;
use crate::fields::{has_scalar_kind, kind_name, resolve};
use crate::http_rule::{HttpRule, Pattern, http_rule};
use crate::template::{PathTemplate, TemplateError};

/// Where methods without a `google.api.http` option are bound:
/// `POST /api/v1/rpc/{package.Service}/{Method}` with body `*`.
pub const DEFAULT_RPC_PREFIX: &str = "/api/v1/rpc/";

/// Everything transcodable of one gRPC service (`package.Service`).
#[derive(Debug, Clone)]
pub struct ServiceBindings {
    /// Fully qualified service name, e.g. `onestop.sim.tax.v1.TaxBureau`.
    pub service: String,
    /// Every method of the service, in declaration order.
    pub methods: Vec<Method>,
}

/// One gRPC method and its HTTP bindings.
#[derive(Debug, Clone)]
pub struct Method {
    /// The method's simple name, e.g. `ListViolations`.
    pub name: String,
    /// The gRPC request path, e.g. `/onestop.sim.traffic.v1.TrafficPolice/ListViolations`.
    pub grpc_path: String,
    /// The server answers with a stream of messages.
    pub server_streaming: bool,
    /// The client sends a stream of messages. Such methods get no HTTP
    /// binding (one HTTP request body is one message), so `bindings` is
    /// empty; they stay reachable over native gRPC.
    pub client_streaming: bool,
    /// The request message type.
    pub input: MessageDescriptor,
    /// The response message type.
    pub output: MessageDescriptor,
    /// The HTTP bindings, primary first, then `additional_bindings` in order.
    pub bindings: Vec<Binding>,
}

/// One HTTP verb + path template that calls a method.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The HTTP method. A `custom` pattern of kind `*` matches any verb.
    pub verb: http::Method,
    /// The path template; its variables name request fields.
    pub template: PathTemplate,
    /// Where the request body goes.
    pub body: BodyRule,
    /// The response field sent as the HTTP body instead of the whole message.
    pub response_body: Option<FieldPath>,
}

/// `HttpRule.body`: which request fields the HTTP body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRule {
    /// No body (`body` omitted): fields come from the path and the query.
    None,
    /// `body: "*"`: the body is the request message, less path fields; no
    /// query parameters are accepted.
    Whole,
    /// `body: "field"`: the body is that field's JSON value; other fields
    /// come from the path and the query.
    Field(FieldPath),
}

/// A service that cannot be compiled, naming the method and the problem.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The service is not in the descriptor set.
    #[error("unknown service {service:?}: not in the descriptor set")]
    UnknownService {
        /// The name asked for.
        service: String,
    },
    /// A path template does not follow the `google.api.http` grammar.
    #[error("{method}: path template {template:?}: {source}")]
    Template {
        /// `package.Service/Method`.
        method: String,
        /// The template as written.
        template: String,
        /// Where and why it failed to parse.
        #[source]
        source: TemplateError,
    },
    /// Any other problem with a method's `google.api.http` rule.
    #[error("{method}: {problem}")]
    Binding {
        /// `package.Service/Method`.
        method: String,
        /// What is wrong, e.g. a template field that does not exist.
        problem: String,
    },
    /// Two bindings with the same verb match exactly the same paths.
    #[error("{verb} {template} is bound twice: by {first} and by {second}")]
    DuplicateBinding {
        /// The verb of both bindings.
        verb: http::Method,
        /// The second binding's template as written.
        template: String,
        /// The method declared first, `package.Service/Method`.
        first: String,
        /// The method declared second.
        second: String,
    },
    /// A service was given twice to [`crate::Table::new`].
    #[error("service {service} is in the table twice")]
    DuplicateService {
        /// The fully qualified service name.
        service: String,
    },
}

/// Compiles a service: each method's `google.api.http` rule (with its
/// `additional_bindings`; verbs get/put/post/delete/patch and `custom`)
/// when it has one, otherwise exactly one default binding
/// `POST /api/v1/rpc/{package.Service}/{Method}` with body `*`.
/// Client-streaming methods get no binding.
///
/// The rule is validated against the method's messages: template variables
/// must name singular scalar fields (or scalar well-known types such as
/// wrappers and `Timestamp`) reached through singular message fields;
/// `body` and `response_body` must name existing fields; a GET has no body.
pub fn compile(desc: &Descriptors, service: &str) -> Result<ServiceBindings, CompileError> {
    let name = service.strip_prefix('.').unwrap_or(service);
    let svc =
        desc.pool()
            .get_service_by_name(name)
            .ok_or_else(|| CompileError::UnknownService {
                service: service.to_owned(),
            })?;
    let methods = svc
        .methods()
        .map(|m| compile_method(&svc, &m))
        .collect::<Result<_, _>>()?;
    Ok(ServiceBindings {
        service: svc.full_name().to_owned(),
        methods,
    })
}

fn compile_method(
    svc: &ServiceDescriptor,
    method: &MethodDescriptor,
) -> Result<Method, CompileError> {
    let id = format!("{}/{}", svc.full_name(), method.name());
    let problem = |problem: String| CompileError::Binding {
        method: id.clone(),
        problem,
    };
    let bindings = if method.is_client_streaming() {
        Vec::new()
    } else {
        match http_rule(method).map_err(problem)? {
            Some(rule) => {
                let mut bindings = vec![binding(&id, method, &rule)?];
                for extra in &rule.additional_bindings {
                    if !extra.additional_bindings.is_empty() {
                        return Err(problem(
                            "additional_bindings must not contain additional_bindings".into(),
                        ));
                    }
                    bindings.push(binding(&id, method, extra)?);
                }
                bindings
            }
            None => vec![default_binding(&id, svc, method)?],
        }
    };
    Ok(Method {
        name: method.name().to_owned(),
        grpc_path: format!("/{id}"),
        server_streaming: method.is_server_streaming(),
        client_streaming: method.is_client_streaming(),
        input: method.input(),
        output: method.output(),
        bindings,
    })
}

fn default_binding(
    id: &str,
    svc: &ServiceDescriptor,
    method: &MethodDescriptor,
) -> Result<Binding, CompileError> {
    let text = format!("{DEFAULT_RPC_PREFIX}{}/{}", svc.full_name(), method.name());
    let template = PathTemplate::parse(&text).map_err(|source| CompileError::Template {
        method: id.to_owned(),
        template: text.clone(),
        source,
    })?;
    Ok(Binding {
        verb: http::Method::POST,
        template,
        body: BodyRule::Whole,
        response_body: None,
    })
}

/// One `HttpRule` (primary or additional) as a [`Binding`].
fn binding(id: &str, method: &MethodDescriptor, rule: &HttpRule) -> Result<Binding, CompileError> {
    let problem = |problem: String| CompileError::Binding {
        method: id.to_owned(),
        problem,
    };
    let (verb, text) = match &rule.pattern {
        Some(Pattern::Get(p)) => (http::Method::GET, p),
        Some(Pattern::Put(p)) => (http::Method::PUT, p),
        Some(Pattern::Post(p)) => (http::Method::POST, p),
        Some(Pattern::Delete(p)) => (http::Method::DELETE, p),
        Some(Pattern::Patch(p)) => (http::Method::PATCH, p),
        Some(Pattern::Custom(c)) => {
            let verb = http::Method::from_bytes(c.kind.as_bytes())
                .map_err(|_| problem(format!("invalid custom HTTP method {:?}", c.kind)))?;
            (verb, &c.path)
        }
        None => {
            return Err(problem(
                "google.api.http rule has no pattern (get, put, post, delete, patch or custom)"
                    .into(),
            ));
        }
    };
    let template = PathTemplate::parse(text).map_err(|source| CompileError::Template {
        method: id.to_owned(),
        template: text.clone(),
        source,
    })?;
    let input = method.input();
    for variable in template.variables() {
        check_path_field(&input, variable)
            .map_err(|e| problem(format!("path template {text:?}: {{{variable}}}: {e}")))?;
    }
    let body = match rule.body.as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::Whole,
        field => {
            let path = FieldPath::parse(field).map_err(|e| problem(format!("body: {e}")))?;
            resolve(&input, path.segments())
                .map_err(|e| problem(format!("body {field:?}: {e}")))?;
            BodyRule::Field(path)
        }
    };
    if verb == http::Method::GET && body != BodyRule::None {
        return Err(problem(format!("GET {text} must not have a body")));
    }
    let response_body = match rule.response_body.as_str() {
        "" => None,
        field => {
            let output = method.output();
            let path =
                FieldPath::parse(field).map_err(|e| problem(format!("response_body: {e}")))?;
            resolve(&output, path.segments())
                .map_err(|e| problem(format!("response_body {field:?}: {e}")))?;
            Some(path)
        }
    };
    Ok(Binding {
        verb,
        template,
        body,
        response_body,
    })
}

/// A template variable must name a singular scalar (or scalar well-known type).
fn check_path_field(input: &MessageDescriptor, path: &FieldPath) -> Result<(), String> {
    let fields = resolve(input, path.segments())?;
    match fields.last() {
        Some(f) if f.is_list() || f.is_map() || !has_scalar_kind(f) => Err(format!(
            "field {:?} is a {}, not a singular scalar field",
            f.name(),
            kind_name(f)
        )),
        _ => Ok(()),
    }
}
