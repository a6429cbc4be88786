//! cargo-fuzz target `cluster_journal`: the repair, replay and compaction of the Configuration Cluster's journal, and
//! the reading of the per-member outboxes it replaced.
//! The promises are in `fuzz/props.rs`, shared with the stable replay of `tests/tests/fuzz.rs`.

#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::cluster_journal(data));
