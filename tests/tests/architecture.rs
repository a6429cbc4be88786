//! The architecture invariants that a machine can check: the direction of dependencies between crates and between the
//! panel's modules, who may touch `libloading`, which crates forbid `unsafe`, and every file's `//!` line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One workspace package as `cargo metadata --no-deps` describes it.
#[derive(Debug, Default)]
struct Package {
    /// The folder of its manifest relative to the workspace root, with `/` separators, e.g. `plugins/remote-access-key`.
    dir: String,
    /// Every normal dependency by package name (a renamed one under its real name), external crates included.
    deps: Vec<String>,
    /// The source file of its library target, if it has one.
    lib: Option<PathBuf>,
}

/// Workspace packages by name.
type Packages = BTreeMap<String, Package>;

/// The workspace as `cargo metadata` sees it, and its root folder.
fn workspace() -> (Packages, PathBuf) {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let root = PathBuf::from(meta["workspace_root"].as_str().expect("workspace_root"));
    let packages = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let manifest = Path::new(p["manifest_path"].as_str().expect("manifest_path"));
            let dir = manifest
                .parent()
                .and_then(|d| d.strip_prefix(&root).ok())
                .expect("package inside the workspace")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().expect("dependency name").to_owned())
                .collect();
            let lib = p["targets"].as_array().expect("targets").iter().find_map(|t| {
                let kinds = t["kind"].as_array()?;
                let is_lib = kinds
                    .iter()
                    .any(|k| matches!(k.as_str(), Some("lib" | "rlib" | "dylib" | "cdylib" | "staticlib")));
                is_lib.then(|| PathBuf::from(t["src_path"].as_str().expect("src_path")))
            });
            (
                p["name"].as_str().expect("package name").to_owned(),
                Package { dir, deps, lib },
            )
        })
        .collect();
    (packages, root)
}

/// The same packages, each with only the dependencies that are packages of the workspace.
fn workspace_only(packages: &Packages) -> BTreeMap<&str, Vec<&str>> {
    packages
        .iter()
        .map(|(name, p)| {
            let inside = p
                .deps
                .iter()
                .filter(|d| packages.contains_key(d.as_str()))
                .map(String::as_str)
                .collect();
            (name.as_str(), inside)
        })
        .collect()
}

/// Whether a package is a plugin (or a fixture standing in for one).
fn is_plugin(package: &Package) -> bool {
    package.dir.starts_with("plugins/") || package.dir.starts_with("tests/fixtures/")
}

/// Every broken dependency rule, one sentence each; empty when the architecture holds.
fn dependency_violations(packages: &Packages) -> Vec<String> {
    let mut found = Vec::new();
    let inside = workspace_only(packages);
    // `fsx` (files and the clock) is below every other crate; the other leaves may use it and nothing else.
    for leaf in ["fsx", "settings", "plugin-abi", "credentials"] {
        match inside.get(leaf) {
            None => found.push(format!("{leaf} is missing from the workspace")),
            Some(uses) if uses.iter().any(|d| leaf == "fsx" || *d != "fsx") => found.push(format!(
                "{leaf} depends on {uses:?}: it must know nothing of the rest of the workspace"
            )),
            Some(_) => {}
        }
    }
    for (name, package) in packages {
        let uses = &inside[name.as_str()];
        if is_plugin(package) {
            for d in uses
                .iter()
                .filter(|d| !matches!(**d, "plugin-abi" | "credentials" | "fsx"))
            {
                found.push(format!(
                    "plugin {name} depends on {d}: plugins see only the ABI and leaf helpers"
                ));
            }
        }
        // The whole dependency list: libloading is an external crate, invisible in the workspace-only view.
        // plugin-abi's is the authors' test kit (`plugin_abi::testing`, an optional feature), which cannot use
        // plugin-host's loader since plugin-host is built on plugin-abi.
        if !matches!(name.as_str(), "plugin-host" | "plugin-abi") && package.deps.iter().any(|d| d == "libloading") {
            found.push(format!(
                "{name} depends on libloading: only plugin-host (and plugin-abi's test kit) touches libloading"
            ));
        }
        if name != "panel" && name != "tests" && uses.contains(&"panel") {
            found.push(format!("{name} depends on the panel"));
        }
    }
    found
}

#[test]
fn dependencies_point_from_the_crate_that_knows_more() {
    let (packages, _) = workspace();
    assert!(
        packages
            .get("plugin-host")
            .is_some_and(|p| p.deps.iter().any(|d| d == "libloading")),
        "the dependency map shows external crates (plugin-host's libloading): {packages:?}"
    );
    let found = dependency_violations(&packages);
    assert!(found.is_empty(), "dependency rules broken:\n{}", found.join("\n"));
}

/// A hand-made workspace that keeps every rule; each case below breaks one.
fn sound_workspace() -> Packages {
    let package = |dir: &str, deps: &[&str]| Package {
        dir: dir.to_owned(),
        deps: deps.iter().map(|d| (*d).to_owned()).collect(),
        lib: None,
    };
    [
        ("settings", package("crates/settings", &["serde", "toml"])),
        ("plugin-abi", package("crates/plugin-abi", &["serde_json"])),
        ("fsx", package("crates/fsx", &["libc"])),
        ("credentials", package("crates/credentials", &["fsx", "sha2"])),
        (
            "plugin-host",
            package("crates/plugin-host", &["plugin-abi", "settings", "libloading"]),
        ),
        (
            "panel",
            package("crates/panel", &["settings", "plugin-host", "credentials", "axum"]),
        ),
        (
            "remote-access-key",
            package("plugins/remote-access-key", &["plugin-abi", "credentials", "rand"]),
        ),
        ("fixture-hello", package("tests/fixtures/hello", &["plugin-abi"])),
        ("tests", package("tests", &["panel", "plugin-host", "settings"])),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_owned(), p))
    .collect()
}

#[test]
fn dependency_rules_fire_on_a_hand_made_violation() {
    assert_eq!(dependency_violations(&sound_workspace()), Vec::<String>::new());
    let cases: [(&str, &str, &str); 6] = [
        ("panel", "libloading", "panel depends on libloading"),
        (
            "remote-access-key",
            "libloading",
            "remote-access-key depends on libloading",
        ),
        (
            "remote-access-key",
            "plugin-host",
            "plugin remote-access-key depends on plugin-host",
        ),
        ("settings", "credentials", "settings depends on [\"credentials\"]"),
        ("fsx", "settings", "fsx depends on [\"settings\"]"),
        ("plugin-host", "panel", "plugin-host depends on the panel"),
    ];
    for (package, dep, message) in cases {
        let mut packages = sound_workspace();
        packages.get_mut(package).unwrap().deps.push(dep.to_owned());
        let found = dependency_violations(&packages);
        assert!(
            found.iter().any(|f| f.starts_with(message)),
            "{package} -> {dep} should be reported as {message:?}, got {found:?}"
        );
    }
    // A new plugin is a plugin by where it lives, whatever its name.
    let mut packages = sound_workspace();
    packages.insert(
        "another".into(),
        Package {
            dir: "plugins/another".into(),
            deps: vec!["settings".into()],
            lib: None,
        },
    );
    assert_eq!(
        dependency_violations(&packages),
        ["plugin another depends on settings: plugins see only the ABI and leaf helpers"]
    );
}

/// The file's leading inner attributes (`#![…]`), each with its whitespace removed.
/// Reading stops at the first thing that is neither whitespace, a comment nor an inner attribute.
fn leading_inner_attributes(text: &str) -> Vec<String> {
    let mut rest = text.trim_start();
    let mut attributes = Vec::new();
    loop {
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r);
        } else if rest.starts_with("#![") {
            let Some(end) = attribute_len(rest) else { break };
            attributes.push(rest[..end].chars().filter(|c| !c.is_whitespace()).collect());
            rest = &rest[end..];
        } else {
            break;
        }
        rest = rest.trim_start();
    }
    attributes
}

/// The length of the attribute `#![…]` that `text` opens with: brackets matched, string literals skipped.
fn attribute_len(text: &str) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether the crate root `text` declares `#![forbid(unsafe_code)]` among its leading attributes.
fn forbids_unsafe_code(text: &str) -> bool {
    leading_inner_attributes(text).iter().any(|a| {
        a.strip_prefix("#![forbid(")
            .and_then(|a| a.strip_suffix(")]"))
            .is_some_and(|lints| lints.split(',').any(|l| l == "unsafe_code"))
    })
}

/// Whether a file opens with a `//!` line, allowing inner attributes before it.
fn opens_with_inner_doc(text: &str) -> bool {
    let mut rest = text.trim_start();
    while rest.starts_with("#![") {
        let Some(end) = attribute_len(rest) else { return false };
        rest = rest[end..].trim_start();
    }
    rest.starts_with("//!")
}

#[test]
fn safe_crates_forbid_unsafe_code() {
    let (packages, root) = workspace();
    let mut roots: Vec<(&str, &Package)> = Vec::new();
    for name in ["fsx", "settings", "panel"] {
        let package = packages
            .get(name)
            .unwrap_or_else(|| panic!("{name} is missing from the workspace"));
        roots.push((name, package));
    }
    let plugins: Vec<_> = packages
        .iter()
        .filter(|(_, p)| p.dir.starts_with("plugins/"))
        .map(|(n, p)| (n.as_str(), p))
        .collect();
    assert!(!plugins.is_empty(), "no plugin found under plugins/");
    roots.extend(plugins);
    let missing: Vec<String> = roots
        .iter()
        .filter_map(|(name, package)| {
            let Some(lib) = &package.lib else {
                return Some(format!("{name} ({}) has no library target", package.dir));
            };
            let text = std::fs::read_to_string(lib).unwrap_or_else(|e| panic!("reading {}: {e}", lib.display()));
            let shown = lib.strip_prefix(&root).unwrap_or(lib).display();
            (!forbids_unsafe_code(&text)).then(|| format!("{name}: {shown} lacks #![forbid(unsafe_code)] at its top"))
        })
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_file_checks_read_attributes_as_rustc_does() {
    let good = "//! Why.\n//! More.\n\n#![forbid(unsafe_code)]\n#![warn(missing_docs)]\n\npub mod a;\n";
    assert!(forbids_unsafe_code(good));
    assert!(opens_with_inner_doc(good));
    let first = "#![forbid(unsafe_code)]\n//! Why.\nuse std::fmt;\n";
    assert!(forbids_unsafe_code(first));
    assert!(opens_with_inner_doc(first));
    let spread = "//! Why.\n#![forbid(\n    missing_docs,\n    unsafe_code,\n)]\n#![doc = \"a ] in a string\"]\n";
    assert!(forbids_unsafe_code(spread));
    let multi_line_first = "#![cfg_attr(\n    docsrs,\n    feature(doc_cfg)\n)]\n//! Why.\n";
    assert!(opens_with_inner_doc(multi_line_first));

    assert!(!forbids_unsafe_code("//! Why.\n\npub mod a;\n"), "absent");
    assert!(
        !forbids_unsafe_code("//! Why.\n#![deny(unsafe_code)]\n"),
        "deny can be overridden"
    );
    assert!(
        !forbids_unsafe_code("//! Why.\n#![forbid(unsafe_op_in_unsafe_fn)]\n"),
        "another lint"
    );
    assert!(
        !forbids_unsafe_code("//! Why.\nuse std::fmt;\n#![forbid(unsafe_code)]\n"),
        "below the first item is not the top"
    );
    assert!(
        !forbids_unsafe_code("//! Why.\n// #![forbid(unsafe_code)]\n"),
        "commented out"
    );
    assert!(
        !forbids_unsafe_code("//! Why.\n#[forbid(unsafe_code)]\nmod a {}\n"),
        "outer attribute"
    );
    assert!(!opens_with_inner_doc("// Why.\n"), "a plain comment");
    assert!(!opens_with_inner_doc("/// Why.\nfn f() {}\n"), "an outer doc comment");
    assert!(!opens_with_inner_doc("use std::fmt;\n//! Why.\n"), "an item first");
    assert!(!opens_with_inner_doc(""), "empty");
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
            let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
            !opens_with_inner_doc(&text)
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! line saying why they exist: {missing:?}"
    );
}

/// The panel's module of a source file: its first path component under `src/` (`auth/header.rs` is `auth`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file under src");
    let first = rel.components().next().expect("a path").as_os_str().to_string_lossy();
    first.strip_suffix(".rs").unwrap_or(&first).to_owned()
}

/// Every `crate::<module>` a file names outside comments, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().next_back();
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` and `other_crate::` are not this crate.
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') && !name.is_empty() {
                found.push((n + 1, name));
            }
            rest = after;
        }
    }
    found
}

/// The layer violations in `files` (module, text) against `layers`.
fn layer_violations(layers: &[&[&str]], files: &[(String, String, String)]) -> Vec<String> {
    let layer = |m: &str| layers.iter().position(|l| l.contains(&m));
    let mut wrong = Vec::new();
    for (name, module, text) in files {
        let Some(own) = layer(module) else {
            wrong.push(format!("{name}: the module {module} is in no layer of panel::LAYERS"));
            continue;
        };
        for (line, used) in crate_paths(text) {
            if used == *module {
                continue;
            }
            match layer(&used) {
                Some(l) if l < own => {}
                Some(_) => wrong.push(format!(
                    "{name}:{line}: {module} uses crate::{used}, which is not in a lower layer"
                )),
                None => wrong.push(format!("{name}:{line}: crate::{used} is in no layer of panel::LAYERS")),
            }
        }
    }
    wrong
}

/// No import circles inside the panel: every module uses only modules of lower layers of `panel::LAYERS`.
#[test]
fn panel_modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/panel/src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String, String)> = paths
        .iter()
        .filter(|p| !p.ends_with("lib.rs") && !p.ends_with("main.rs"))
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("readable");
            (
                p.strip_prefix(&src).unwrap().display().to_string(),
                module_of(&src, p),
                text,
            )
        })
        .collect();
    assert!(files.len() > 20, "found only {} files", files.len());
    let listed: Vec<&str> = panel::LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    for (_, module, _) in &files {
        assert!(listed.contains(&module.as_str()), "{module} is in no layer");
    }
    let violations = layer_violations(panel::LAYERS, &files);
    assert!(violations.is_empty(), "layering broken:\n{}", violations.join("\n"));
}

/// The layering rule fires on a hand-made circle and on an unlisted module, and ignores comments and `$crate`.
#[test]
fn layer_rules_fire_on_a_hand_made_circle() {
    let layers: &[&[&str]] = &[&["low"], &["high"]];
    let file = |m: &str, t: &str| (format!("{m}.rs"), m.to_owned(), t.to_owned());
    let ok = [
        file("low", "// crate::high in a comment\nuse $crate::high;\n"),
        file("high", "use crate::low::X;\n"),
    ];
    assert!(layer_violations(layers, &ok).is_empty());
    let circle = [
        file("low", "fn f() { crate::high::g() }\n"),
        file("high", "use crate::low;\n"),
    ];
    assert_eq!(
        layer_violations(layers, &circle),
        ["low.rs:1: low uses crate::high, which is not in a lower layer"]
    );
    assert_eq!(
        layer_violations(layers, &[file("stray", "")]),
        ["stray.rs: the module stray is in no layer of panel::LAYERS"]
    );
}
