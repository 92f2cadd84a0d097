//! The slow-header clients of the listener flood tests, in a process of
//! their own (as an attacker's would be): `slow_clients ADDR COUNT`.
//!
//! Opens `COUNT` connections to `ADDR`; each sends a request line and then
//! one header byte a second until the server closes it (or 20 s pass).
//! Prints two lines on stdout:
//! - `connected N REFUSED MS` once every connect has returned (`N` open,
//!   `REFUSED` failed, `MS` milliseconds it took);
//! - `closed LATE T1 T2 …` once every connection is closed: `LATE` were
//!   still open after 20 s, `T…` when each of the others was closed,
//!   in milliseconds after its connect returned, sorted.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection still open after this long is counted late, then dropped.
const GIVE_UP: Duration = Duration::from_secs(20);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: slow_clients ADDR COUNT";
    let addr: SocketAddr = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let count: usize = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let settled = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let connecting = Instant::now();
    let clients: Vec<_> = (0..count)
        .map(|_| {
            let (settled, refused) = (settled.clone(), refused.clone());
            tokio::spawn(async move {
                let conn = TcpStream::connect(addr).await;
                // The server's header clock starts at its accept, just before this.
                let start = Instant::now();
                settled.fetch_add(1, Ordering::Relaxed);
                let Ok(conn) = conn else {
                    refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                };
                Some(trickle(conn, start).await)
            })
        })
        .collect();
    while settled.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.load(Ordering::Relaxed);
    say(&format!(
        "connected {} {refused} {}",
        count - refused,
        connecting.elapsed().as_millis()
    ))?;
    let mut late = 0;
    let mut closed = Vec::with_capacity(count);
    for c in clients {
        match c.await? {
            Some(Ok(took)) => closed.push(took.as_millis()),
            Some(Err(_)) => late += 1,
            None => {}
        }
    }
    closed.sort_unstable();
    let times: Vec<String> = closed.iter().map(u128::to_string).collect();
    say(&format!("closed {late} {}", times.join(" ")))?;
    Ok(())
}

/// Sends a request line, then a header byte a second, until the server
/// closes the connection: `Ok(when)`, counted from `start`; `Err(())` when
/// it is still open after [`GIVE_UP`].
async fn trickle(mut conn: TcpStream, start: Instant) -> Result<Duration, ()> {
    let _ = conn.write_all(b"GET / HTTP/1.1\r\n").await;
    let mut chunk = [0u8; 256];
    loop {
        let wait = tokio::time::sleep(Duration::from_secs(1));
        tokio::select! {
            r = conn.read(&mut chunk) => match r {
                Ok(0) | Err(_) => return Ok(start.elapsed()),
                Ok(_) => {}
            },
            () = wait => {
                if start.elapsed() > GIVE_UP {
                    return Err(());
                }
                let _ = conn.write_all(b"a").await;
            }
        }
    }
}

fn say(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}
