//! Pure helpers on the incoming request, before routing (path checks and
//! normalisation are `onestop_policy::path`).

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
