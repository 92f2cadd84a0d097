//! Arbitrary bytes as a bearer token against a verifier with the test keys
//! (`tests/fixtures/jwks.json`): as sent, and — when the input has line
//! feeds — as `header\nclaims\nsignature` with each part base64url-encoded,
//! so the fuzzer reaches the header and claims parsers. It must never panic
//! and never accept. The body is `onestop_policy::fuzzing::jwt_parse`, which
//! a unit test also runs over the seed corpus in `corpus/jwt_parse/` (named
//! `<error code>-*` or `structured-*`).
//!
//! From `crates/onestop-policy`:
//!
//! ```sh
//! RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=../../target-fuzz cargo fuzz run jwt_parse \
//!     /tmp/fuzz-jwt_parse fuzz/corpus/jwt_parse -- -max_total_time=180 \
//!     -dict=fuzz/jwt_parse.dict
//! ```

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    onestop_policy::fuzzing::jwt_parse(data);
});
