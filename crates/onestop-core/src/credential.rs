//! Credentials in requests and URLs, read and hidden in one place: the
//! token of an `Authorization: Bearer <token>` value, and a URL with its
//! password replaced (for messages and logs). Comparing secrets in
//! constant time is [`crate::digest::constant_time_eq`].

/// The token of an `Authorization` header value `Bearer <token>` (the
/// scheme case-insensitive, the token trimmed and not empty).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The URL with the password of its authority (if any) replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Basic abc"), None);
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@db:5432/test?x=1"),
            "postgres://u:***@db:5432/test?x=1"
        );
        assert_eq!(redact_url("postgres://u@db/test"), "postgres://u@db/test");
        assert_eq!(redact_url("postgres://db/test"), "postgres://db/test");
        assert_eq!(
            redact_url("sqlite:/data/onestop.db"),
            "sqlite:/data/onestop.db"
        );
        assert_eq!(
            redact_url("redis://:pw@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        // An `@` after the authority is not a credential.
        assert_eq!(
            redact_url("postgres://db/x?user=a@b:c"),
            "postgres://db/x?user=a@b:c"
        );
    }
}
