//! Times as the APIs show them.

use std::time::{Duration, UNIX_EPOCH};

/// Unix epoch milliseconds as RFC 3339 (UTC, milliseconds), e.g.
/// `2026-11-22T21:15:21.000Z`; `None` before 1970.
pub fn rfc3339_ms(ms: i64) -> Option<String> {
    let ms = u64::try_from(ms).ok()?;
    Some(humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_milliseconds() {
        assert_eq!(
            rfc3339_ms(1_795_900_521_007).as_deref(),
            Some("2026-11-28T21:15:21.007Z")
        );
        assert_eq!(rfc3339_ms(-1), None);
    }
}
