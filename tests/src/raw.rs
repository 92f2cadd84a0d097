//! A raw HTTP/1.x client for probes that no well-behaved client would send
//! (smuggling attempts, malformed framing): writes bytes as given, reads the
//! answer until the server closes the connection or a timeout passes, and
//! reports the status line, the headers and whether the server closed.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What came back for one raw request.
#[derive(Debug, Clone, Default)]
pub struct RawResponse {
    /// `HTTP/1.1 400 Bad Request` (empty when nothing parseable arrived).
    pub status_line: String,
    /// The status code of the first response (`None`: no response).
    pub status: Option<u16>,
    /// Header fields of the first response, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Everything after the first response's header block.
    pub body: Vec<u8>,
    /// The server closed the connection (EOF or reset) within the timeout.
    pub closed: bool,
    /// The close was a reset (RST) rather than an orderly FIN.
    pub reset: bool,
    /// Writing the request failed (the server closed before reading it all).
    pub write_error: Option<String>,
    /// Every byte read.
    pub raw: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends `request` on a fresh connection to `addr` and reads until the
/// server closes it or `timeout` passes without it closing.
///
/// Blocking: call it from `tokio::task::spawn_blocking` in async tests.
pub fn exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> RawResponse {
    let mut out = RawResponse::default();
    let mut stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            out.write_error = Some(format!("connect: {e}"));
            return out;
        }
    };
    let _ = stream.set_nodelay(true);
    if let Err(e) = stream.write_all(request) {
        out.write_error = Some(e.to_string());
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => {
                out.closed = true;
                break;
            }
            Ok(n) => out.raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                // ECONNRESET and friends: the server is gone.
                out.closed = true;
                out.reset = matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                );
                break;
            }
        }
    }
    parse_head(&mut out);
    out
}

/// Fills status, headers and body from `out.raw`, skipping interim (1xx)
/// responses such as `100 Continue`.
fn parse_head(out: &mut RawResponse) {
    let mut start = 0;
    loop {
        let rest = &out.raw[start..];
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            out.status_line = String::from_utf8_lossy(rest).into_owned();
            return;
        };
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let mut lines = head.split("\r\n");
        out.status_line = lines.next().unwrap_or_default().to_string();
        out.status = out
            .status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok());
        out.headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        out.body = rest[end + 4..].to_vec();
        match out.status {
            Some(s) if (100..200).contains(&s) && s != 101 => start += end + 4,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_response_head() {
        let mut r = RawResponse {
            raw: b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec(),
            ..RawResponse::default()
        };
        parse_head(&mut r);
        assert_eq!(r.status, Some(431));
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.body, b"{}");
    }

    #[test]
    fn skips_interim_responses() {
        let mut r = RawResponse {
            raw: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
            ..RawResponse::default()
        };
        parse_head(&mut r);
        assert_eq!(r.status, Some(200));
    }
}
