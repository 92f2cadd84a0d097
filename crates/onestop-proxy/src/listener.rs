//! The public listener's connection layer: connection limits, the request
//! header deadline, body-gap and keep-alive timeouts, and HTTP/1.1
//! pipelining, around pingora's HTTP proxy app.
//!
//! pingora 0.9.1 has no request-header timeout of its own (a read timeout
//! applies to each read, so a client sending one byte a second is never cut
//! off). [`PublicApp`] wraps the proxy's [`ServerApp`]: it counts
//! connections (total and per client IP; at a limit the new connection is
//! closed at once, before anything is read, so established connections keep
//! their share), and wraps every accepted stream in a [`ClockedStream`]
//! whose [`HeaderClock`] fails reads once the header deadline has passed.
//! The proxy's `early_request_filter` calls [`request_header_received`]
//! (the header is complete: stop the clock, set the body-gap and keep-alive
//! timeouts, allow pipelining); its `logging` phase calls
//! [`request_finished`] (the next request's clock starts at its first byte).
//! h2 connections are told apart by their preface; for them the clock stops
//! at the preface and `h2_idle_timeout` bounds idleness.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use onestop_config::Limits;
use onestop_core::ErrorCode;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::http::ServerSession;
use pingora_core::protocols::raw_connect::ProxyDigest;
use pingora_core::protocols::tls::{SslDigest, TlsRef};
use pingora_core::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use pingora_core::server::ShutdownWatch;
use pingora_error::{Error, ErrorSource, ErrorType};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::events;

/// The first bytes of every h2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The listener's timeouts and connection limits (from `[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_addr: usize,
}

impl From<&Limits> for ListenerLimits {
    fn from(l: &Limits) -> Self {
        ListenerLimits {
            header_timeout: l.header_timeout,
            body_timeout: l.body_timeout,
            keepalive_timeout: l.keepalive_timeout,
            max_connections: l.max_connections,
            max_connections_per_addr: l.max_connections_per_addr,
        }
    }
}

impl ListenerLimits {
    /// The keep-alive timeout in whole seconds, as pingora takes it (≥ 1).
    pub fn keepalive_secs(&self) -> u64 {
        self.keepalive_timeout.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// Open connections, in total and per client address.
#[derive(Debug)]
pub struct Connections {
    max_total: usize,
    max_per_addr: usize,
    total: AtomicUsize,
    per_addr: Mutex<HashMap<IpAddr, usize>>,
}

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Total,
    PerAddr,
}

impl Connections {
    pub fn new(max_total: usize, max_per_addr: usize) -> Arc<Self> {
        Arc::new(Connections {
            max_total,
            max_per_addr,
            total: AtomicUsize::new(0),
            per_addr: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for a connection from `addr`, or says which limit is reached.
    pub fn admit(self: &Arc<Self>, addr: Option<IpAddr>) -> Result<Slot, Refused> {
        let total = self.total.fetch_add(1, Ordering::AcqRel) + 1;
        if total > self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Total);
        }
        if let Some(ip) = addr {
            let mut map = self.per_addr.lock().unwrap_or_else(|p| p.into_inner());
            let n = map.entry(ip).or_insert(0);
            if *n >= self.max_per_addr {
                drop(map);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Refused::PerAddr);
            }
            *n += 1;
        }
        events::connections_open(total);
        Ok(Slot {
            conns: self.clone(),
            addr,
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

/// One admitted connection; gives its slot back when dropped.
#[derive(Debug)]
pub struct Slot {
    conns: Arc<Connections>,
    addr: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(ip) = self.addr {
            let mut map = self
                .conns
                .per_addr
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
        let open = self.conns.total.fetch_sub(1, Ordering::AcqRel) - 1;
        events::connections_open(open);
    }
}

/// Where a connection stands with respect to its request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClockState {
    /// A header is being read; reads fail from `deadline` on.
    Armed(Instant),
    /// Between requests: the clock starts at the next byte read.
    Idle,
    /// A request is being served (its header is complete), or h2.
    Stopped,
}

/// The request-header deadline of one connection. It runs on tokio's
/// clock, so tests can pause and advance time.
#[derive(Debug)]
pub struct HeaderClock {
    timeout: Duration,
    state: Mutex<ClockState>,
}

impl HeaderClock {
    /// A clock armed now (a fresh connection: its first header is due
    /// within `timeout` of the accept).
    pub fn new(timeout: Duration) -> Self {
        HeaderClock {
            timeout,
            state: Mutex::new(ClockState::Armed(Instant::now() + timeout)),
        }
    }

    fn state(&self) -> ClockState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, s: ClockState) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// The header is complete: no deadline while the request is served.
    pub fn stop(&self) {
        self.set(ClockState::Stopped);
    }

    /// The request is answered: the next header's deadline starts at its
    /// first byte (until then the keep-alive timeout applies).
    pub fn idle(&self) {
        self.set(ClockState::Idle);
    }

    /// The deadline in force, if any.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state() {
            ClockState::Armed(d) => Some(d),
            _ => None,
        }
    }

    /// `n` bytes were read: an idle connection's next header starts now.
    fn on_read(&self, n: usize) {
        if n > 0 {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if *s == ClockState::Idle {
                *s = ClockState::Armed(Instant::now() + self.timeout);
            }
        }
    }
}

/// An accepted stream whose reads fail once its [`HeaderClock`] runs out.
pub struct ClockedStream {
    inner: Stream,
    clock: Arc<HeaderClock>,
    limits: Arc<ListenerLimits>,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: bool,
    /// pingora's own refusal, replaced by the gateway's JSON answer: the
    /// bytes to write and how many are written.
    rewrite: Option<(Vec<u8>, usize)>,
}

impl fmt::Debug for ClockedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClockedStream")
            .field("inner", &self.inner)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl ClockedStream {
    pub fn new(inner: Stream, clock: Arc<HeaderClock>, limits: Arc<ListenerLimits>) -> Self {
        ClockedStream {
            inner,
            clock,
            limits,
            sleep: None,
            timed_out: false,
            rewrite: None,
        }
    }

    /// Whether a write is pingora's own answer to a request no filter saw
    /// (its parser refused the header: bare 400; `CONNECT`: bare 405):
    /// the clock is armed, so no request of this connection is being
    /// served, and the bytes are a 400 or 405 status line.
    fn framework_refusal(&self, buf: &[u8]) -> Option<ErrorCode> {
        if self.rewrite.is_some() || !matches!(self.clock.state(), ClockState::Armed(_)) {
            return None;
        }
        let status = buf.strip_prefix(b"HTTP/1.")?.get(2..5)?;
        match status {
            b"400" => Some(ErrorCode::MalformedRequest),
            b"405" => Some(ErrorCode::MethodNotAllowed),
            _ => None,
        }
    }

    fn timeout_error(&mut self) -> io::Error {
        if !self.timed_out {
            self.timed_out = true;
            events::client_timed_out("header");
        }
        io::Error::new(io::ErrorKind::TimedOut, "request header timeout")
    }
}

impl AsyncRead for ClockedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(deadline) = this.clock.deadline() else {
            this.sleep = None;
            let before = buf.filled().len();
            let res = Pin::new(&mut this.inner).poll_read(cx, buf);
            if let Poll::Ready(Ok(())) = res {
                this.clock.on_read(buf.filled().len() - before);
            }
            return res;
        };
        if Instant::now() >= deadline {
            return Poll::Ready(Err(this.timeout_error()));
        }
        if let Poll::Ready(res) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            return Poll::Ready(res);
        }
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(this.timeout_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for ClockedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(code) = this.framework_refusal(buf) {
            let request_id = onestop_core::request_id::generate();
            events::parser_refused(code.http_status(), &request_id);
            this.rewrite = Some((refusal_response(code, &request_id), 0));
        }
        let Some((out, written)) = this.rewrite.as_mut() else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        // The JSON answer goes out whole; pingora's bytes (and anything
        // it writes after them on this closing connection) are dropped.
        while *written < out.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &out[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.rewrite.is_some() || !matches!(self.clock.state(), ClockState::Stopped) {
            // Possibly pingora's own refusal: one slice at a time, through
            // `poll_write`, which recognises it.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for ClockedStream {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for ClockedStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for ClockedStream {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora_core::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for ClockedStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for ClockedStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for ClockedStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for ClockedStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

/// The gateway's answer in place of pingora's bare refusal: the SPEC's JSON
/// error shape with a request id, and `Connection: close`.
fn refusal_response(code: ErrorCode, request_id: &str) -> Vec<u8> {
    let body = onestop_core::error::json_body(code.as_str(), code.default_message(), request_id);
    let reason = match code.http_status() {
        405 => "Method Not Allowed",
        _ => "Bad Request",
    };
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n",
        code.http_status(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// The public listener: connection limits and the header clock around
/// pingora's HTTP app `A` (the proxy).
pub struct PublicApp<A> {
    inner: Arc<A>,
    limits: Arc<ListenerLimits>,
    conns: Arc<Connections>,
}

impl<A> PublicApp<A> {
    pub fn new(inner: A, limits: ListenerLimits) -> Self {
        let conns = Connections::new(limits.max_connections, limits.max_connections_per_addr);
        PublicApp {
            inner: Arc::new(inner),
            limits: Arc::new(limits),
            conns,
        }
    }

    /// The connection counters (for tests and metrics).
    pub fn connections(&self) -> Arc<Connections> {
        self.conns.clone()
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for PublicApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let addr = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let _slot = match self.conns.admit(addr) {
            Ok(slot) => slot,
            Err(refused) => {
                let (limit, max) = match refused {
                    Refused::Total => ("total", self.limits.max_connections),
                    Refused::PerAddr => ("per_addr", self.limits.max_connections_per_addr),
                };
                events::connection_refused(limit, max);
                // Dropping the stream closes the connection unread.
                return None;
            }
        };
        let clock = Arc::new(HeaderClock::new(self.limits.header_timeout));
        // pingora tells h2c from HTTP/1.1 by peeking at 24 bytes; do it
        // here, under the header deadline, so a client that sends nothing
        // (or trickles) is cut off in time.
        let mut preface = [0u8; H2_PREFACE.len()];
        match tokio::time::timeout(self.limits.header_timeout, stream.try_peek(&mut preface)).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return None,
            Err(_) => {
                events::client_timed_out("header");
                return None;
            }
        }
        if &preface == H2_PREFACE {
            clock.stop();
        }
        let stream: Stream = Box::new(ClockedStream::new(stream, clock, self.limits.clone()));
        self.inner.process_new(stream, shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// The connection layer of a downstream HTTP/1 session, if it has one.
fn clocked(session: &ServerSession) -> Option<&ClockedStream> {
    match session {
        ServerSession::H1(h1) => (**h1.stream()).as_any().downcast_ref::<ClockedStream>(),
        _ => None,
    }
}

/// Called once a request's header is parsed (`early_request_filter`):
/// stops the header clock and sets the body-gap and keep-alive timeouts
/// and pipelining (answered in order, one at a time) on the session.
/// Returns when the request started (its header clock's start; now on h2),
/// from which `limits.request_timeout` is counted.
pub fn request_header_received(session: &mut ServerSession) -> Instant {
    let now = Instant::now();
    let Some(stream) = clocked(session) else {
        return now;
    };
    let started = stream
        .clock
        .deadline()
        .and_then(|d| d.checked_sub(stream.clock.timeout))
        .map_or(now, |s| s.min(now));
    stream.clock.stop();
    let limits = stream.limits.clone();
    session.set_read_timeout(Some(limits.body_timeout));
    session.set_keepalive(Some(limits.keepalive_secs()));
    session.set_pipelining_enabled(true);
    started
}

/// Before each read of an HTTP/1 request body: the read times out at the
/// request's `deadline` (`limits.request_timeout`) if that comes before the
/// body-gap timeout, so a stalled body is cut off at the deadline too.
pub fn bound_body_read(session: &mut ServerSession, deadline: Instant) {
    let Some(stream) = clocked(session) else {
        return;
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let gap = stream.limits.body_timeout;
    session.set_read_timeout(Some(gap.min(left).max(Duration::from_millis(1))));
}

/// Called when a request is done (`logging`): the next request's header
/// clock starts at its first byte.
pub fn request_finished(session: &ServerSession) {
    if let Some(stream) = clocked(session) {
        stream.clock.idle();
    }
}

/// Whether `e` is the client's body arriving too slowly (a read of the
/// downstream body timed out): answered 408 `REQUEST_TIMEOUT`.
pub fn body_timed_out(e: &Error) -> bool {
    let timed_out =
        e.esource() == &ErrorSource::Downstream && e.etype() == &ErrorType::ReadTimedout;
    if timed_out {
        events::client_timed_out("body");
    }
    timed_out
}

#[cfg(test)]
mod tests;
