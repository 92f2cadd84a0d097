//! The floor under onestop's data plane, for `make bench`: pingora's
//! `ProxyHttp` with nothing but an upstream and a one-line access log, on
//! the same pingora build, thread count and listener settings as the
//! gateway. The gap between this and nginx is pingora's; the gap between
//! onestop and this is onestop's own request path.
//!
//! `bare_pingora LISTEN UPSTREAM [THREADS [READ_BUFFER [steal|nosteal]]]`,
//! e.g. `bare_pingora 127.0.0.1:18086 127.0.0.1:18081 1` (the listener's
//! L4 read buffer defaults to the gateway's 4 KiB; the runtime to the
//! gateway's default, work stealing — `[proxy] work_stealing`).

use std::io::Write;
use std::time::Instant;

use async_trait::async_trait;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::Server;
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_proxy::{ProxyHttp, Session};

/// The gateway's allocator (`onestop`'s `main.rs`), so that the gap
/// measured is the request path's, not the allocators'.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The same read buffer as the gateway's public listener (by default).
const READ_BUFFER: usize = 4096;

struct Bare {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = Instant;

    fn new_ctx(&self) -> Instant {
        Instant::now()
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut Instant,
    ) -> pingora_error::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }

    async fn logging(
        &self,
        session: &mut Session,
        _e: Option<&pingora_error::Error>,
        started: &mut Instant,
    ) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let req = session.req_header();
        let line = format!(
            "{{\"method\":\"{}\",\"path\":\"{}\",\"status\":{status},\"duration_us\":{}}}\n",
            req.method,
            req.uri.path(),
            started.elapsed().as_micros()
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn main() {
    // As the gateway's `main`: no transparent huge pages.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_pingora LISTEN UPSTREAM [THREADS [READ_BUFFER [steal|nosteal]]]");
        std::process::exit(2);
    };
    let threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(1);
    let read_buffer = args
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or(READ_BUFFER);
    let work_stealing = args.next().as_deref() != Some("nosteal");
    let conf = ServerConf {
        threads,
        work_stealing,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service_with_name(
        &server.configuration,
        Bare { upstream },
        "bare",
    );
    proxy.add_listener(
        ListenerConfig::tcp(listen).l4_buffer(L4BufferSettings::default().read(read_buffer)),
    );
    proxy.threads = Some(threads);
    server.add_service(proxy);
    server.run_forever();
}
