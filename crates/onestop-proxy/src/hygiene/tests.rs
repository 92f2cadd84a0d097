use super::*;

fn limits() -> Limits {
    Limits {
        max_header_bytes: 1024,
        max_headers: 8,
        max_body_bytes: 100,
        hosts: vec!["gov.example".into()],
        unknown_host: UnknownHost::Reject,
        ..Limits::default()
    }
}

/// A request head as pingora would parse it, and its raw block.
fn req(head: &str) -> (RequestHeader, Vec<u8>) {
    let raw = head.as_bytes().to_vec();
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut h = RequestHeader::build(method, target.as_bytes(), None).expect("head");
    h.set_version(match version {
        "HTTP/1.0" => Version::HTTP_10,
        "HTTP/2" => Version::HTTP_2,
        _ => Version::HTTP_11,
    });
    // Lines pingora could not parse are only in `raw`.
    for (n, v) in lines.filter_map(|l| l.split_once(':')) {
        let _ = h.append_header(n.trim().to_string(), v.trim());
    }
    (h, raw)
}

fn check(head: &str) -> Result<(), Refusal> {
    let (h, raw) = req(head);
    check_request(&h, Some(&raw), &limits())
}

#[test]
fn accepts_ordinary_requests() {
    for head in [
        "GET /a HTTP/1.1\r\nHost: gov.example\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: GOV.example:8080\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: gov.example.\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: gov.example\r\nContent-Length: 10\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: gov.example\r\nTransfer-Encoding: Chunked\r\n\r\n",
        "GET /a HTTP/1.0\r\nHost: gov.example\r\n\r\n",
    ] {
        assert_eq!(check(head), Ok(()), "{head:?}");
    }
}

#[test]
fn refuses_framing_tricks() {
    use Refusal::*;
    for (head, want) in [
        ("GET /a HTTP/1.1\nHost: gov.example\n\n", BareLineEnding),
        (
            "GET /a HTTP/1.1\r\nHost: gov.example\nX: y\r\n\r\n",
            BareLineEnding,
        ),
        (
            "GET /a HTTP/1.1\r\nHost: gov.example\rX: y\r\n\r\n",
            BareLineEnding,
        ),
        (
            "GET /a HTTP/1.1\r\nHost: gov.example\r\nX: y\r\n z\r\n\r\n",
            ObsFold,
        ),
        (
            "POST /a HTTP/1.1\r\nHost: gov.example\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
            DuplicateContentLength,
        ),
        (
            "POST /a HTTP/1.1\r\nHost: gov.example\r\nContent-Length: 1, 1\r\n\r\n",
            DuplicateContentLength,
        ),
        (
            "POST /a HTTP/1.1\r\nHost: gov.example\r\nContent-Length: +1\r\n\r\n",
            InvalidContentLength,
        ),
        (
            "POST /a HTTP/1.1\r\nHost: gov.example\r\nContent-Length: 18446744073709551616\r\n\r\n",
            InvalidContentLength,
        ),
        (
            "POST /a HTTP/1.1\r\nHost: gov.example\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            UnsupportedTransferEncoding,
        ),
        (
            "POST /a HTTP/1.1\r\nHost: gov.example\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            UnsupportedTransferEncoding,
        ),
        (
            "POST /a HTTP/1.0\r\nHost: gov.example\r\nTransfer-Encoding: chunked\r\n\r\n",
            UnsupportedTransferEncoding,
        ),
    ] {
        assert_eq!(check(head), Err(want), "{head:?}");
    }
}

#[test]
fn sees_the_content_length_pingora_dropped() {
    // pingora removes Content-Length when Transfer-Encoding is present:
    // only the raw block still shows it.
    let head = "POST /a HTTP/1.1\r\nHost: gov.example\r\ncontent-LENGTH:4\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (mut h, raw) = req(head);
    h.remove_header(&header::CONTENT_LENGTH);
    assert_eq!(
        check_request(&h, Some(&raw), &limits()),
        Err(Refusal::ContentLengthWithTransferEncoding)
    );
    // Without the raw block (h2), the parsed header is all there is.
    assert_eq!(check(head), Err(Refusal::ContentLengthWithTransferEncoding));
    assert_eq!(check_request(&h, None, &limits()), Ok(()));
}

#[test]
fn refuses_large_heads_with_431() {
    let many: String = (0..8).map(|i| format!("X-{i}: v\r\n")).collect();
    let too_many = format!("GET /a HTTP/1.1\r\nHost: gov.example\r\n{many}\r\n");
    assert_eq!(check(&too_many), Err(Refusal::TooManyHeaders));
    let big = format!(
        "GET /a HTTP/1.1\r\nHost: gov.example\r\nX: {}\r\n\r\n",
        "a".repeat(1100)
    );
    assert_eq!(check(&big), Err(Refusal::HeadersTooLarge));
    assert_eq!(Refusal::TooManyHeaders.status(), 431);
    assert_eq!(Refusal::HeadersTooLarge.status(), 431);
}

#[test]
fn checks_target_and_host() {
    use Refusal::*;
    for (head, want) in [
        (
            "GET http://gov.example/a HTTP/1.1\r\nHost: gov.example\r\n\r\n",
            NotOriginForm,
        ),
        (
            "OPTIONS * HTTP/1.1\r\nHost: gov.example\r\n\r\n",
            NotOriginForm,
        ),
        ("GET /a HTTP/1.1\r\n\r\n", MissingHost),
        (
            "GET /a HTTP/1.1\r\nHost: gov.example\r\nHost: gov.example\r\n\r\n",
            DuplicateHost,
        ),
        (
            "GET /a HTTP/1.1\r\nHost: u@gov.example\r\n\r\n",
            InvalidHost,
        ),
        (
            "GET /a HTTP/1.1\r\nHost: gov.example/x\r\n\r\n",
            InvalidHost,
        ),
        ("GET /a HTTP/1.1\r\nHost: \r\n\r\n", InvalidHost),
        ("GET /a HTTP/1.1\r\nHost: evil.example\r\n\r\n", UnknownHost),
        ("GET /a HTTP/1.0\r\n\r\n", UnknownHost),
    ] {
        assert_eq!(check(head), Err(want), "{head:?}");
    }
    assert_eq!(UnknownHost.status(), 404);
    // Any host is served when the list is empty or unknown hosts are accepted.
    let (h, raw) = req("GET /a HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    for l in [
        Limits {
            hosts: vec![],
            ..limits()
        },
        Limits {
            unknown_host: onestop_config::UnknownHost::Accept,
            ..limits()
        },
    ] {
        assert_eq!(check_request(&h, Some(&raw), &l), Ok(()));
    }
}

#[test]
fn h2_uses_the_authority() {
    // pingora builds an h2 request's URI from the pseudo-headers.
    let h2 = |uri: &'static str| {
        let mut h = RequestHeader::build("POST", b"/", None).expect("h2");
        h.set_uri(http::Uri::from_static(uri));
        h.set_version(Version::HTTP_2);
        h
    };
    let h = h2("http://gov.example/pkg.Svc/M");
    assert_eq!(check_request(&h, None, &limits()), Ok(()));
    let other = h2("http://evil.example/x");
    assert_eq!(
        check_request(&other, None, &limits()),
        Err(Refusal::UnknownHost)
    );
}

#[test]
fn body_limits() {
    let (h, _) = req("POST /a HTTP/1.1\r\nHost: gov.example\r\nContent-Length: 101\r\n\r\n");
    assert_eq!(check_declared_body(&h, 100), Err(Refusal::BodyTooLarge));
    assert_eq!(check_declared_body(&h, 101), Ok(()));
    assert_eq!(check_body_read(101, 100), Err(Refusal::BodyTooLarge));
    assert_eq!(check_body_read(100, 100), Ok(()));
    assert_eq!(Refusal::BodyTooLarge.status(), 413);
    let (chunked, _) = req("POST /a HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(reads_ahead(&chunked));
    let (expect, _) = req(
        "POST /a HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(!reads_ahead(&expect));
    assert!(!reads_ahead(&h));
}

#[test]
fn gate_prepends_held_bytes_once_and_enforces_the_limit() {
    let mut gate = BodyGate::new(10, None);
    gate.held = Some(BytesMut::from(&b"abc"[..]));
    let mut chunk = Some(Bytes::from_static(b"de"));
    assert_eq!(gate.on_chunk(&mut chunk, 5), Ok(()));
    assert_eq!(chunk.as_deref(), Some(&b"abcde"[..]));
    let mut next = Some(Bytes::from_static(b"f"));
    assert_eq!(gate.on_chunk(&mut next, 6), Ok(()));
    assert_eq!(next.as_deref(), Some(&b"f"[..]));
    assert_eq!(gate.on_chunk(&mut next, 11), Err(Refusal::BodyTooLarge));
    // Held bytes and the end of the body: they are sent as the last chunk.
    let mut end = BodyGate::new(10, None);
    end.held = Some(BytesMut::from(&b"xyz"[..]));
    let mut none = None;
    assert_eq!(end.on_chunk(&mut none, 3), Ok(()));
    assert_eq!(none.as_deref(), Some(&b"xyz"[..]));
}
