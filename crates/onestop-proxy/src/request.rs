//! Pure checks on the incoming request, before routing.

/// Longest path the gateway accepts.
pub const MAX_PATH: usize = 8 * 1024;

/// Why a request target is refused with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotOriginForm,
    TooLong,
    BadPercentEncoding,
    ControlCharacter,
    NotUtf8,
}

impl PathError {
    pub fn message(self) -> &'static str {
        match self {
            PathError::NotOriginForm => "the request target must be a path starting with /",
            PathError::TooLong => "the request path is too long",
            PathError::BadPercentEncoding => "the request path has an invalid percent-encoding",
            PathError::ControlCharacter => "the request path contains a control character",
            PathError::NotUtf8 => "the request path does not decode to UTF-8",
        }
    }
}

/// Checks that a path can be routed: origin-form, bounded, valid
/// percent-encoding, and decoding to UTF-8 without control characters.
pub fn check_path(path: &str) -> Result<(), PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotOriginForm);
    }
    if path.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    let bytes = path.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    let mut escaped = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or(PathError::BadPercentEncoding)?;
            let v = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(PathError::BadPercentEncoding)?;
            decoded.push(v);
            escaped = true;
            i += 3;
        } else {
            decoded.push(b);
            i += 1;
        }
    }
    if decoded.iter().any(|b| b.is_ascii_control()) {
        return Err(PathError::ControlCharacter);
    }
    if escaped && std::str::from_utf8(&decoded).is_err() {
        return Err(PathError::NotUtf8);
    }
    Ok(())
}

/// `Host` without a port, for host matching.
pub fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// Whether a request is gRPC (and so gets gRPC-shaped errors).
pub fn is_grpc(content_type: Option<&[u8]>) -> bool {
    content_type.is_some_and(|ct| ct.starts_with(b"application/grpc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for p in [
            "/",
            "/api/v1/depts/hpf/accounts/110105194912310029",
            "/a%20b",
            "/%E4%B8%AD",
        ] {
            assert_eq!(check_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn refuses_malformed_paths() {
        assert_eq!(check_path("*"), Err(PathError::NotOriginForm));
        assert_eq!(check_path("http://x/y"), Err(PathError::NotOriginForm));
        assert_eq!(check_path("/a%zz"), Err(PathError::BadPercentEncoding));
        assert_eq!(check_path("/a%4"), Err(PathError::BadPercentEncoding));
        assert_eq!(check_path("/a%00b"), Err(PathError::ControlCharacter));
        assert_eq!(check_path("/a%0Ab"), Err(PathError::ControlCharacter));
        assert_eq!(check_path("/a%FF"), Err(PathError::NotUtf8));
        assert_eq!(
            check_path(&format!("/{}", "a".repeat(MAX_PATH))),
            Err(PathError::TooLong)
        );
    }

    #[test]
    fn strips_ports_from_hosts() {
        assert_eq!(host_without_port("gov.example:8080"), "gov.example");
        assert_eq!(host_without_port("gov.example"), "gov.example");
        assert_eq!(host_without_port("[::1]:80"), "::1");
    }

    #[test]
    fn detects_grpc() {
        assert!(is_grpc(Some(b"application/grpc")));
        assert!(is_grpc(Some(b"application/grpc+proto")));
        assert!(!is_grpc(Some(b"application/json")));
        assert!(!is_grpc(None));
    }
}
