//! Arbitrary bytes as a department file, as a gateway file and (split at
//! `\n#---\n`) as both, through `parse_sources` and `validate`. The body is
//! `onestop_config::fuzzing::parse_validate`, which a unit test also runs
//! over the seed corpus in `corpus/parse_validate/` (named `valid-*` /
//! `invalid-*`; an input that once crashed is added as `crash-*`).
//!
//! From `crates/onestop-config`, with a scratch directory first so that the
//! inputs libFuzzer discovers do not land in the seed corpus:
//!
//! ```sh
//! RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=../../target-fuzz cargo fuzz run parse_validate \
//!     /tmp/fuzz-work fuzz/corpus/parse_validate -- -max_total_time=120 -dict=fuzz/parse_validate.dict
//! ```

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    onestop_config::fuzzing::parse_validate(data);
});
