//! What a department receives: the request with client-sent identity
//! headers removed, the path the gateway matched (with `me` resolved), and
//! the gateway's identity headers and signature. Pure functions over the
//! upstream request header.

use http::HeaderValue;
use onestop_policy::signing::{self, Signed};
use pingora_http::RequestHeader;

/// Headers the gateway sets; a client can never send them through.
pub const IDENTITY_PREFIX: &str = "x-onestop-";
pub const CITIZEN: &str = "x-onestop-citizen";
pub const CHANNEL: &str = "x-onestop-channel";
pub const TIMESTAMP: &str = "x-onestop-timestamp";
pub const SIGNATURE: &str = "x-onestop-signature";

/// Client credentials a route passes through (`forward_credentials`);
/// everything else is removed before a department.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Passed {
    pub authorization: bool,
    pub cookie: bool,
}

impl Passed {
    /// From the route's validated list of names.
    pub fn from_names(names: &[String]) -> Passed {
        Passed {
            authorization: names.iter().any(|n| n == "authorization"),
            cookie: names.iter().any(|n| n == "cookie"),
        }
    }
}

/// Removes every client-sent `x-onestop-*` header (among them the app
/// key), also from `Connection` (a client listing `x-onestop-citizen` there
/// would have a later hop strip the gateway's own header), and the client's
/// credentials — `Authorization`, `Proxy-Authorization`, `Cookie` — unless
/// the route passes them through. A citizen token is valid for every
/// department: one that reached a department could be replayed elsewhere.
pub fn sanitize(req: &mut RequestHeader, passed: Passed) {
    let names: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|n| n.as_str().starts_with(IDENTITY_PREFIX))
        .cloned()
        .collect();
    for name in names {
        req.remove_header(&name);
    }
    let connection: Vec<String> = req
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if !connection.is_empty() {
        let kept: Vec<&str> = connection
            .iter()
            .map(String::as_str)
            .filter(|t| {
                !t.starts_with(IDENTITY_PREFIX)
                    && !matches!(*t, "authorization" | "proxy-authorization" | "cookie")
            })
            .collect();
        req.remove_header(&http::header::CONNECTION);
        if !kept.is_empty()
            && let Ok(v) = HeaderValue::from_str(&kept.join(", "))
        {
            let _ = req.insert_header(http::header::CONNECTION, v);
        }
    }
    if !passed.authorization {
        req.remove_header(&http::header::AUTHORIZATION);
    }
    if !passed.cookie {
        req.remove_header(&http::header::COOKIE);
    }
    req.remove_header(&http::header::PROXY_AUTHORIZATION);
}

/// Appends the client's address to `x-forwarded-for` (after what the
/// client itself sent, if anything).
pub fn forwarded_for(
    req: &mut RequestHeader,
    client: Option<std::net::IpAddr>,
) -> pingora_error::Result<()> {
    let Some(ip) = client else {
        return Ok(());
    };
    let ip = ip.to_string();
    let xff = match req
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    req.insert_header("x-forwarded-for", xff)
}

/// `path` with its `index`-th segment (0 = the first after the leading `/`)
/// replaced by `value`.
pub fn with_segment(path: &str, index: usize, value: &str) -> String {
    let mut out = String::with_capacity(path.len() + value.len());
    for (i, seg) in path.split('/').skip(1).enumerate() {
        out.push('/');
        out.push_str(if i == index { value } else { seg });
    }
    out
}

/// Who the gateway vouches for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    pub citizen: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub request_id: &'a str,
}

/// Adds the identity headers and, with a department key, the signature
/// over method, the request target as sent, citizen, channel, request id
/// and `now_unix`.
pub fn vouch(
    req: &mut RequestHeader,
    who: Identity<'_>,
    key: Option<&[u8; 32]>,
    now_unix: u64,
) -> pingora_error::Result<()> {
    if let Some(c) = who.citizen {
        req.insert_header(CITIZEN, c)?;
    }
    if let Some(c) = who.channel {
        req.insert_header(CHANNEL, c)?;
    }
    if let Some(key) = key {
        let method = req.method.as_str().to_string();
        let target = req
            .uri
            .path_and_query()
            .map_or_else(|| req.uri.path().to_string(), |pq| pq.as_str().to_string());
        let signature = signing::sign(
            key,
            &Signed {
                method: &method,
                path_and_query: &target,
                citizen: who.citizen,
                channel: who.channel,
                request_id: who.request_id,
                timestamp: now_unix,
            },
        );
        req.insert_header(TIMESTAMP, now_unix.to_string())?;
        req.insert_header(SIGNATURE, signature)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/api/v1/depts/hpf/accounts/me?x=1", None)
            .expect("request");
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn client_identity_headers_never_pass() {
        let mut r = req(&[
            ("X-Onestop-Citizen", "110101199003070019"),
            ("x-onestop-channel", "spoofed"),
            ("x-onestop-signature", "v1=00"),
            ("x-onestop-anything", "x"),
            ("Connection", "keep-alive, X-Onestop-Citizen, authorization"),
            ("authorization", "Bearer abc"),
            ("cookie", "session=1"),
            ("proxy-authorization", "Basic x"),
            ("x-onestop-app-key", "k"),
            ("x-other", "kept"),
        ]);
        sanitize(&mut r, Passed::default());
        let names: Vec<&str> = r.headers.keys().map(http::HeaderName::as_str).collect();
        assert_eq!(names, ["x-other", "connection"], "{names:?}");
        assert_eq!(r.headers["connection"], "keep-alive");
    }

    #[test]
    fn a_connection_header_of_identity_tokens_only_goes_away() {
        let mut r = req(&[("connection", "x-onestop-citizen, cookie")]);
        sanitize(&mut r, Passed::default());
        assert!(r.headers.get("connection").is_none());
    }

    #[test]
    fn credentials_pass_only_when_the_route_names_them() {
        let creds = [("authorization", "Basic x"), ("cookie", "a=1")];
        let mut r = req(&creds);
        sanitize(&mut r, Passed::default());
        assert!(r.headers.is_empty(), "{:?}", r.headers);
        let mut r = req(&creds);
        sanitize(&mut r, Passed::from_names(&["cookie".into()]));
        assert_eq!(r.headers.len(), 1);
        assert_eq!(r.headers["cookie"], "a=1");
        let mut r = req(&creds);
        sanitize(
            &mut r,
            Passed::from_names(&["authorization".into(), "cookie".into()]),
        );
        assert_eq!(r.headers.len(), 2);
    }

    #[test]
    fn segments_are_replaced_by_position() {
        assert_eq!(
            with_segment("/api/v1/depts/hpf/accounts/me", 5, "110101199003070019"),
            "/api/v1/depts/hpf/accounts/110101199003070019"
        );
        assert_eq!(with_segment("/a/me/b", 1, "x"), "/a/x/b");
        assert_eq!(with_segment("/a/b/", 1, "x"), "/a/x/");
    }

    #[test]
    fn vouching_signs_what_is_sent() {
        let key = signing::department_key(b"0123456789abcdef0123456789abcdef", "hpf");
        let mut r = req(&[]);
        vouch(
            &mut r,
            Identity {
                citizen: Some("110101199003070019"),
                channel: Some("super-app"),
                request_id: "rid-1",
            },
            Some(&key),
            1_800_000_000,
        )
        .expect("vouch");
        assert_eq!(r.headers[CITIZEN], "110101199003070019");
        assert_eq!(r.headers[CHANNEL], "super-app");
        assert_eq!(r.headers[TIMESTAMP], "1800000000");
        let signed = Signed {
            method: "GET",
            path_and_query: "/api/v1/depts/hpf/accounts/me?x=1",
            citizen: Some("110101199003070019"),
            channel: Some("super-app"),
            request_id: "rid-1",
            timestamp: 1_800_000_000,
        };
        let sig = r.headers[SIGNATURE].to_str().expect("ascii");
        assert_eq!(
            signing::verify(&key, &signed, Some(sig), 1_800_000_010, 30),
            Ok(())
        );
        let other = signing::department_key(b"0123456789abcdef0123456789abcdef", "water");
        assert!(signing::verify(&other, &signed, Some(sig), 1_800_000_010, 30).is_err());
    }
}
