//! Operator credentials: random bearer tokens of which only the SHA-256 is
//! ever written down (in the gateway file's `[[operators]]`).

use base64::Engine as _;
use rand::RngCore as _;

/// A new operator token (`oso_` + 43 characters of base64url randomness)
/// and its lower-case hex SHA-256.
pub fn new_operator_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "oso_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = onestop_core::digest::sha256_hex(token.as_bytes());
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_operator_token();
        let (b, hb) = new_operator_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(ha, onestop_core::digest::sha256_hex(a.as_bytes()));
        assert_ne!(ha, hb);
    }
}
