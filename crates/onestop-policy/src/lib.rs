//! Pure access decisions of the onestop gateway: the proxy calls these on
//! every public request, so each is deterministic, does no I/O (no files, no
//! network, no clock: time is passed in) and allocates little.
//!
//! | module | decides | the proxy answers |
//! |---|---|---|
//! | [`path`] | the canonical path used for routing, every rule and the upstream request | 400 |
//! | [`channel`] | which app (channel) an `x-onestop-app-key` belongs to, and which routes it may call | 401 / 403 |
//! | [`jwt`] | which citizen a bearer token proves (RFC 8725 rules) | 401 |
//! | [`citizen`] | whether a citizen id in the path is the token's citizen (BOLA) | 404 |
//! | [`signing`] | the gateway's signature over what it tells a department | — |
//!
//! The order on the request path: [`path::normalize`] first (everything
//! after it sees only the canonical path), then the channel, the route match,
//! the token, the citizen binding, and finally the signature on the way out.

#![forbid(unsafe_code)]

pub mod channel;
pub mod citizen;
#[doc(hidden)]
pub mod fuzzing;
pub mod jwt;
pub mod path;
pub mod signing;
