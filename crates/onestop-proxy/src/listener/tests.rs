#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

fn ip(last: u8) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)))
}

#[test]
fn connection_limits_total_and_per_address() {
    let conns = Connections::new(3, 2);
    let a1 = conns.admit(ip(1)).unwrap();
    let a2 = conns.admit(ip(1)).unwrap();
    assert_eq!(conns.admit(ip(1)).unwrap_err(), Refused::PerAddr);
    let b1 = conns.admit(ip(2)).unwrap();
    assert_eq!(conns.open(), 3);
    assert_eq!(conns.admit(ip(3)).unwrap_err(), Refused::Total);
    assert_eq!(conns.admit(None).unwrap_err(), Refused::Total);
    drop(a1);
    assert_eq!(conns.open(), 2);
    // The freed slot is usable by anybody; the refused ones left no trace.
    let a3 = conns.admit(ip(1)).unwrap();
    drop((a2, a3, b1));
    assert_eq!(conns.open(), 0);
    assert!(conns.per_addr.lock().unwrap().is_empty());
}

async fn pair(timeout: Duration) -> (ClockedStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let inner: Stream = Box::new(pingora_core::protocols::l4::stream::Stream::from(server));
    let limits = ListenerLimits {
        header_timeout: timeout,
        body_timeout: timeout,
        keepalive_timeout: timeout,
        max_connections: 10,
        max_connections_per_addr: 10,
    };
    let clock = Arc::new(HeaderClock::new(timeout));
    (ClockedStream::new(inner, clock, Arc::new(limits)), client)
}

#[tokio::test(start_paused = true)]
async fn a_trickled_header_fails_at_the_deadline() {
    let (mut server, mut client) = pair(Duration::from_secs(10)).await;
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let mut got = 0;
    let err = loop {
        // One byte a second: every read succeeds until the deadline.
        client.write_all(b"a").await.unwrap();
        match server.read(&mut buf).await {
            Ok(n) => got += n,
            Err(e) => break e,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(got, 10);
}

#[tokio::test(start_paused = true)]
async fn silence_fails_at_the_deadline_and_a_stopped_clock_never_does() {
    let (mut server, _client) = pair(Duration::from_secs(3)).await;
    let start = Instant::now();
    let mut buf = [0u8; 8];
    let err = server.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), Duration::from_secs(3));

    let (mut server, mut client) = pair(Duration::from_secs(3)).await;
    server.clock.stop();
    tokio::time::sleep(Duration::from_secs(60)).await;
    client.write_all(b"late body").await.unwrap();
    let n = server.read(&mut buf).await.unwrap();
    assert_eq!(n, 8);
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_starts_the_next_deadline_at_its_first_byte() {
    let (mut server, mut client) = pair(Duration::from_secs(5)).await;
    server.clock.idle();
    assert_eq!(server.clock.deadline(), None);
    // Idle for longer than the header timeout: not the header clock's business.
    tokio::time::sleep(Duration::from_secs(30)).await;
    client.write_all(b"G").await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(server.read(&mut buf).await.unwrap(), 1);
    let deadline = server.clock.deadline().unwrap();
    assert_eq!(deadline - Instant::now(), Duration::from_secs(5));
    let err = server.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}

#[test]
fn keepalive_rounds_up_to_whole_seconds() {
    let mut l = ListenerLimits::from(&Limits::default());
    assert_eq!(l.keepalive_secs(), 60);
    l.keepalive_timeout = Duration::from_millis(1500);
    assert_eq!(l.keepalive_secs(), 2);
    l.keepalive_timeout = Duration::from_millis(100);
    assert_eq!(l.keepalive_secs(), 1);
}
