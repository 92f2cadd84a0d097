//! Arbitrary bytes as a request path, as sent and with a `/` in front,
//! through `onestop_policy::path::normalize`. Every accepted path must keep
//! the output invariants and be a fixed point (idempotence); short outputs
//! also check that every spelling from `path::variants` normalises to them.
//! The body is `onestop_policy::fuzzing::normalize_path`, which a unit test
//! also runs over the seed corpus in `corpus/normalize_path/` (named `ok-*`
//! or `<error code>-*`; an input that once crashed is added as `crash-*`).
//!
//! From `crates/onestop-policy`, with a scratch directory first so that the
//! inputs libFuzzer discovers do not land in the seed corpus:
//!
//! ```sh
//! RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=../../target-fuzz cargo fuzz run normalize_path \
//!     /tmp/fuzz-normalize_path fuzz/corpus/normalize_path -- -max_total_time=180 \
//!     -dict=fuzz/normalize_path.dict
//! ```

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    onestop_policy::fuzzing::normalize_path(data);
});
