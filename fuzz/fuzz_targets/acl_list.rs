//! cargo-fuzz target `acl_list`: WHM's saved ACL lists (`acllists/<name>`).
//! The promises are in `fuzz/props.rs`, shared with the stable replay of `tests/tests/fuzz.rs`.

#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::acl_list(data));
