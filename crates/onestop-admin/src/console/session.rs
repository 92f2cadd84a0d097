//! Console sessions: signing in with an operator token makes a session
//! whose id travels only in an `HttpOnly`, `SameSite=Strict` cookie; the
//! token stays on the server, in memory, and is what every in-process API
//! call of the session carries. A session ends `session_ttl` after sign-in
//! or `idle_timeout` after its last request, at sign-out, and when the
//! operator's token stops being accepted (the API answers 401).
//!
//! Each session has one CSRF token, sent in every form and compared (in
//! constant time) before any change. Sessions are kept by the SHA-256 of
//! their id, per process: a gateway restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use onestop_core::digest::{constant_time_eq, sha256_hex};
use onestop_store::Millis;

/// The session cookie's name.
pub const COOKIE: &str = "onestop_console";
/// The sign-in form's double-submit cookie (before there is a session).
pub const LOGIN_COOKIE: &str = "onestop_console_login";
/// The most sessions kept at once; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The operator's bearer token (never leaves the server).
    pub token: String,
    /// Sent in every form; checked before every change.
    pub csrf: String,
    pub created_at: Millis,
    pub last_seen: Millis,
}

/// Sessions of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes from the thread's CSPRNG, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two secrets are equal, in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && constant_time_eq(a.as_bytes(), b.as_bytes())
}

impl Sessions {
    /// Creates a session for `token`; returns its id (the cookie's value).
    pub fn create(&self, token: String, now: Millis) -> (String, Session) {
        let id = random_token();
        let session = Session {
            token,
            csrf: random_token(),
            created_at: now,
            last_seen: now,
        };
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(sha256_hex(id.as_bytes()), session.clone());
        (id, session)
    }

    /// The live session of `id` (touching it), or `None` when there is
    /// none or it expired (it is then removed).
    pub fn get(&self, id: &str, now: Millis, ttl: Duration, idle: Duration) -> Option<Session> {
        let key = sha256_hex(id.as_bytes());
        let mut map = self.by_hash.lock().unwrap_or_else(|p| p.into_inner());
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let live = map
            .get(&key)
            .is_some_and(|s| now - s.created_at < ms(ttl) && now - s.last_seen < ms(idle));
        if !live {
            map.remove(&key);
            return None;
        }
        let s = map.get_mut(&key)?;
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends the session of `id`.
    pub fn remove(&self, id: &str) {
        let key = sha256_hex(id.as_bytes());
        self.by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    /// Removes expired sessions.
    pub fn sweep(&self, now: Millis, ttl: Duration, idle: Duration) {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| now - s.created_at < ms(ttl) && now - s.last_seen < ms(idle));
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many sessions are kept.
    pub fn len(&self) -> usize {
        self.by_hash.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` for `name=value`, scoped to `/console`: `HttpOnly`,
/// `SameSite=Strict`, `Secure` when asked; `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_by_age_and_idleness_and_end_on_sign_out() {
        let sessions = Sessions::default();
        let ttl = Duration::from_secs(100);
        let idle = Duration::from_secs(10);
        let (id, s) = sessions.create("tok".into(), 1_000);
        assert_eq!(s.token, "tok");
        assert_eq!(s.csrf.len(), 64);
        assert_ne!(id, s.csrf);
        // Touched every 9 s it lives until its age runs out.
        let mut t = 1_000;
        while t + 9_000 < 1_000 + 100_000 {
            t += 9_000;
            assert!(sessions.get(&id, t, ttl, idle).is_some(), "at {t}");
        }
        assert!(sessions.get(&id, 101_000, ttl, idle).is_none());
        assert_eq!(sessions.len(), 0, "an expired session is removed");
        // Idle too long.
        let (id, _) = sessions.create("tok".into(), 0);
        assert!(sessions.get(&id, 10_000, ttl, idle).is_none());
        // Signed out.
        let (id, _) = sessions.create("tok".into(), 0);
        sessions.remove(&id);
        assert!(sessions.get(&id, 1, ttl, idle).is_none());
        // An id nobody was given.
        assert!(sessions.get("nope", 1, ttl, idle).is_none());
    }

    #[test]
    fn cookies_are_read_by_name_and_written_with_their_flags() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; onestop_console=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        let c = set_cookie(COOKIE, "abc", Duration::from_secs(60), false);
        assert_eq!(
            c.to_str().unwrap_or_default(),
            "onestop_console=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        let c = set_cookie(COOKIE, "", Duration::ZERO, true);
        assert!(
            c.to_str()
                .unwrap_or_default()
                .ends_with("Max-Age=0; Secure")
        );
        assert!(same_secret("x", "x"));
        assert!(!same_secret("", ""));
        assert!(!same_secret("x", "y"));
    }
}
