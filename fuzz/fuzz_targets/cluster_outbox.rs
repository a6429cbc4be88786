//! cargo-fuzz target `cluster_outbox`: the repair and replay of a Configuration Cluster member's outbox.
//! The promises are in `fuzz/props.rs`, shared with the stable replay of `tests/tests/fuzz.rs`.

#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::cluster_outbox(data));
