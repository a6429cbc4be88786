//! The architecture invariants that a machine can check: the direction of dependencies and every file's `//!` line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Each workspace package and the workspace packages it depends on (normal dependencies only).
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let names: Vec<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .filter(|d| names.contains(d))
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn dependencies_point_from_the_crate_that_knows_more() {
    let deps = workspace_dependencies();
    assert_eq!(
        deps["settings"],
        Vec::<String>::new(),
        "settings knows nothing of the rest of the workspace"
    );
    assert_eq!(deps["plugin-abi"], Vec::<String>::new(), "the ABI crate is a leaf");
    assert_eq!(
        deps["credentials"],
        Vec::<String>::new(),
        "credentials is a leaf helper"
    );
    for (package, uses) in &deps {
        let is_plugin = package == "remote-access-key" || package.starts_with("fixture-");
        if is_plugin {
            for d in uses {
                assert!(
                    d == "plugin-abi" || d == "credentials",
                    "plugin {package} depends on {d}: plugins see only the ABI and leaf helpers"
                );
            }
        }
        if package != "plugin-host" {
            assert!(
                !uses.contains(&"libloading".to_owned()),
                "only plugin-host touches libloading"
            );
        }
        if package != "panel" && package != "tests" {
            assert!(
                !uses.contains(&"panel".to_owned()),
                "{package} must not depend on the panel"
            );
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory").flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_file_says_why_it_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["crates", "plugins", "tests", "fuzz/fuzz_targets"] {
        if root.join(dir).is_dir() {
            rust_files(&root.join(dir), &mut files);
        }
    }
    assert!(files.len() > 40, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text
                .lines()
                .find(|l| !l.trim().is_empty() && !l.starts_with("#!["))
                .is_some_and(|l| l.starts_with("//!"))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! line saying why they exist: {missing:?}"
    );
}
