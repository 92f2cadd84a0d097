//! Per-request state: what the phases of one request hand each other.

use super::*;

/// Per-request state.
pub struct Ctx {
    pub(super) request_id: String,
    pub(super) started: Instant,
    pub(super) grpc: bool,
    pub(super) route: Option<Arc<RouteEntry>>,
    pub(super) upstream: Option<Arc<Upstream>>,
    pub(super) hash_key: Vec<u8>,
    pub(super) admission: Option<Admission>,
    pub(super) deadline: Option<Instant>,
    pub(super) tried: Vec<SocketAddr>,
    pub(super) current: Option<SocketAddr>,
    pub(super) attempts: u32,
    /// Set when the gateway itself decided the outcome.
    pub(super) failure: Option<ErrorCode>,
    /// Status the gateway wrote itself.
    pub(super) responded: Option<u16>,
    pub(super) upstream_started: Option<Instant>,
    pub(super) upstream_elapsed: Option<Duration>,
    /// Who is calling (channel, citizen, department, operator).
    pub(super) caller: Caller,
    /// The request target to send upstream when it differs from the
    /// client's (normalised path, `me` resolved), with the query.
    pub(super) upstream_target: Option<String>,
    /// A department's 404 on a citizen route is answered like the
    /// gateway's own "not found" (so "not yours" and "no such" look alike).
    pub(super) citizen_not_found: bool,
    /// A request the gateway answered itself (`catalog`).
    pub(super) builtin: Option<&'static str>,
    /// The request-body limit in force and bytes read ahead (`hygiene`).
    /// `request_filter` may lower or raise `body.limit` for the route.
    pub(super) body: BodyGate,
    /// The request's use of the response cache.
    pub(super) cache: Option<response_cache::Use>,
    /// What the cache did (the `x-onestop-cache` header).
    pub(super) cache_status: Option<onestop_cache::Status>,
    /// A browser's gRPC-Web call, bridged to gRPC.
    pub(super) grpc_web: Option<grpc_web::Bridge>,
}

impl Ctx {
    /// A request's state before its first phase.
    pub(super) fn new() -> Ctx {
        Ctx {
            request_id: String::new(),
            started: Instant::now(),
            grpc: false,
            route: None,
            upstream: None,
            hash_key: Vec::new(),
            admission: None,
            deadline: None,
            tried: Vec::new(),
            current: None,
            attempts: 0,
            failure: None,
            responded: None,
            upstream_started: None,
            upstream_elapsed: None,
            caller: Caller::default(),
            upstream_target: None,
            citizen_not_found: false,
            builtin: None,
            body: BodyGate::default(),
            cache: None,
            cache_status: None,
            grpc_web: None,
        }
    }

    /// Where the request goes: the target to send when it differs from
    /// the client's (normalised path, `me` resolved), and the key of
    /// consistent hashing (the citizen on citizen routes, else the path).
    pub(super) fn aim(&mut self, req: &RequestHeader, route: &RouteEntry, upstream_path: &str) {
        if upstream_path != req.uri.path() {
            self.upstream_target = Some(match req.uri.query() {
                Some(q) => format!("{upstream_path}?{q}"),
                None => upstream_path.to_owned(),
            });
        }
        self.hash_key = self
            .caller
            .citizen
            .as_ref()
            .filter(|_| route.citizen_param.is_some())
            .map_or(upstream_path, |c| c.id.as_str())
            .as_bytes()
            .to_vec();
    }

    pub(super) fn retries_left(&self) -> bool {
        self.route
            .as_ref()
            .is_some_and(|r| self.attempts <= r.retries)
    }
}
