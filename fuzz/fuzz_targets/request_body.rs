//! cargo-fuzz target `request_body`: WHM API request bodies of every content type.
//! The promises are in `fuzz/props.rs`, shared with the stable replay of `tests/tests/fuzz.rs`.

#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::request_body(data));
