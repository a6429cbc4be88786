//! cargo-fuzz target `member_answer`: a Configuration Cluster member's answer to a change.
//! The promises are in `fuzz/props.rs`, shared with the stable replay of `tests/tests/fuzz.rs`.

#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::member_answer(data));
