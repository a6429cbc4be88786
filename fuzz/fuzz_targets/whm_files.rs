//! The files of a WHM server tree (passwd, shadow, cpuser files, the /etc caches, resellers, token stores,
//! servers.db, cpanel.config and its cache), read by `ServerTree::read`: promises in `fuzz/props.rs`.

#![no_main]

#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::whm_files(data));
