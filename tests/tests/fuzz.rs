//! The parsers of untrusted bytes, fuzzed on the stable toolchain as ordinary tests: each target's corpus
//! (`fuzz/corpus/<target>/`: seeds and every crash found, kept as regression inputs) is replayed, then mutated a
//! bounded number of times with a fixed seed (byte flips, insertions of the bytes parsers care about, cuts, splices
//! of two inputs), and every input must keep the target's promises. A failing input is printed in full; add it to
//! the target's corpus so it stays a regression input.
//!
//! The promises are `fuzz/props.rs`, the very file the cargo-fuzz targets of `fuzz/` call (coverage-guided; `.ci/run`
//! runs each for a few seconds).

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Mutated inputs per target: about a second in all.
const ROUNDS: usize = 20_000;

/// Mutated inputs for the targets whose every input is a tree of files written to disk and read back (a few
/// milliseconds each): a few seconds in all. cargo-fuzz runs them unbounded.
const ROUNDS_ON_DISK: usize = 1_000;

/// The targets that write each input to disk.
const ON_DISK: &[&str] = &["whm_files"];

/// Bytes worth inserting: line structure, separators, quotes, NUL, control characters, a UTF-8 lead byte.
const INTERESTING: &[u8] = b"\n\r\0=:#;[]\"'\\ \t,-.\x7f\xc3\x01\x1f";

fn mutate(rng: &mut StdRng, seeds: &[&[u8]]) -> Vec<u8> {
    let mut data = seeds[rng.random_range(0..seeds.len())].to_vec();
    for _ in 0..rng.random_range(1..5) {
        let at = if data.is_empty() {
            0
        } else {
            rng.random_range(0..=data.len())
        };
        match rng.random_range(0..6) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 => data.insert(at, INTERESTING[rng.random_range(0..INTERESTING.len())]),
            2 => data.truncate(at),
            3 => {
                let other = seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                data.splice(at..at, other[from..].iter().copied());
            }
            4 if !data.is_empty() => {
                let end = rng.random_range(at..=data.len());
                data.drain(at..end);
            }
            _ => {
                let n = rng.random_range(1..64);
                data.splice(at..at, std::iter::repeat_n(b'x', n));
            }
        }
    }
    data
}

#[path = "../../fuzz/props.rs"]
mod props;

/// `fuzz/`, the cargo-fuzz workspace.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// A target's corpus: its seeds and regression inputs.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).expect("a corpus file")).collect()
}

/// Replays a target's corpus and mutations of it through its promises in `fuzz/props.rs`.
fn run(target: &str) {
    let check = props::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("{target} is not in props::TARGETS"))
        .1;
    let inputs = corpus(target);
    let seeds: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let rounds = if ON_DISK.contains(&target) {
        ROUNDS_ON_DISK
    } else {
        ROUNDS
    };
    fuzz(target, &seeds, rounds, check);
}

/// Replays the seeds, then `rounds` mutations of them, through `check`; a panic names the input.
fn fuzz(name: &str, seeds: &[&[u8]], rounds: usize, check: impl Fn(&[u8])) {
    let mut rng = StdRng::seed_from_u64(0x7765_616b_6761_7465);
    let inputs = seeds
        .iter()
        .map(|s| s.to_vec())
        .chain((0..rounds).map(|_| mutate(&mut rng, seeds)));
    for input in inputs {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
        if let Err(e) = outcome {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!(
                "{name}: the input {:?} broke a promise: {why}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

/// Every target has its promises, a corpus, a cargo-fuzz binary and a run in `.ci/run`, and nothing else is there.
#[test]
fn every_fuzz_target_has_a_corpus_a_binary_and_a_ci_run() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let ci = std::fs::read_to_string(fuzz_dir().join("../.ci/run")).unwrap();
    let mut corpora: Vec<String> = std::fs::read_dir(fuzz_dir().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    corpora.sort();
    let mut names: Vec<String> = props::TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    names.sort();
    assert_eq!(corpora, names, "fuzz/corpus/ has one directory per target");
    for (name, _) in props::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} is a [[bin]] of fuzz/Cargo.toml"
        );
        let target = std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            target.contains(&format!("props::{name}(")),
            "fuzz_targets/{name}.rs calls props::{name}"
        );
        assert!(!corpus(name).is_empty(), "{name} has seeds");
    }
    assert!(
        ci.contains("for target in $(cargo fuzz list)"),
        ".ci/run runs every target"
    );
}

#[test]
fn authorization_header_keeps_its_promises() {
    run("authorization_header");
}

#[test]
fn cpanel_config_keeps_its_promises() {
    run("cpanel_config");
}

#[test]
fn resellers_file_keeps_its_promises() {
    run("resellers_file");
}

#[test]
fn acl_list_keeps_its_promises() {
    run("acl_list");
}

#[test]
fn config_toml_keeps_its_promises() {
    run("config_toml");
}

#[test]
fn request_body_keeps_its_promises() {
    run("request_body");
}

#[test]
fn plugin_description_keeps_its_promises() {
    run("plugin_description");
}

#[test]
fn cluster_journal_keeps_its_promises() {
    run("cluster_journal");
}

#[test]
fn member_answer_keeps_its_promises() {
    run("member_answer");
}

#[test]
fn whm_files_keeps_its_promises() {
    run("whm_files");
}
