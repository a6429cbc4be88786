//! cargo-fuzz target `cpanel_config`: WHM's `cpanel.config` reader and writer.
//! The promises are in `fuzz/props.rs`, shared with the stable replay of `tests/tests/fuzz.rs`.

#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::cpanel_config(data));
