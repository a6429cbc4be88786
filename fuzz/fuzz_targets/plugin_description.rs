//! cargo-fuzz target `plugin_description`: the check of a plugin's self-description.
//! The promises are in `fuzz/props.rs`, shared with the stable replay of `tests/tests/fuzz.rs`.

#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::plugin_description(data));
