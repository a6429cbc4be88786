//! `config check` and `check`: the configuration validated, and a privilege test file held against it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use settings::Snapshot;

use super::offline_snapshot;

/// `config check`: parse and validate, print the warnings, the findings of the server tree the config reads (if
/// any: `check --server` is the command that fails on them) and the plugins that failed; exit 1 on a failed plugin.
pub(crate) fn config_check(config_path: &Path, json: bool) -> Result<ExitCode> {
    let (snapshot, plugins) = offline_snapshot(config_path)?;
    let c = snapshot.config();
    let failed: Vec<_> = plugins.reports().into_iter().filter(|r| !r.is_loaded()).collect();
    let findings = c.whm.as_deref().map_or(&[][..], |tree| &tree.findings[..]);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "file": c.file.display().to_string(),
                "ok": failed.is_empty(),
                "warnings": c.warnings,
                "findings": findings,
                "resellers": c.users.resellers.len(),
                "accounts": c.users.accounts.len(),
                "plugins": c.plugins.len(),
                "plugin_errors": failed.iter().map(|r| serde_json::json!({"path": r.path.display().to_string(), "error": r.failure()})).collect::<Vec<_>>(),
            })
        );
    } else {
        println!(
            "{}: OK ({} resellers, {} accounts, {} plugins)",
            c.file.display(),
            c.users.resellers.len(),
            c.users.accounts.len(),
            c.plugins.len()
        );
        for w in &c.warnings {
            println!("warning: {w}");
        }
        if let Some(tree) = c.whm.as_deref() {
            print!("{}", super::server::findings(tree, false)?.0);
        }
        for r in &failed {
            println!("plugin {r}");
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `check FILE`: every expectation in the file; exit 1 on any mismatch.
/// With `--server`, first the findings of the server tree the config reads (exit 1 on a warning or an error).
pub(crate) fn check_file(
    config_path: &Path,
    expectations: Option<&Path>,
    with_server: bool,
    json: bool,
) -> Result<ExitCode> {
    let (snapshot, _plugins) = offline_snapshot(config_path)?;
    let mut code = ExitCode::SUCCESS;
    if with_server {
        let Some(tree) = snapshot.config().whm.as_deref() else {
            anyhow::bail!(
                "{} names no server (`[sources] whm_root = \"/\"`); check --server reads one",
                config_path.display()
            );
        };
        let (out, failing) = super::server::findings(tree, json)?;
        print!("{out}");
        if failing {
            code = ExitCode::from(1);
        }
    }
    let Some(expectations) = expectations else {
        return Ok(code);
    };
    let text =
        std::fs::read_to_string(expectations).with_context(|| format!("cannot read {}", expectations.display()))?;
    let failures = check(&snapshot, &text, expectations)?;
    for f in &failures {
        println!("{f}");
    }
    let total = toml::from_str::<Expectations>(&text).map_or(0, |e| e.expectations.len());
    if failures.is_empty() {
        println!("all {total} expectation(s) hold");
        Ok(code)
    } else {
        println!("{} expectation(s) failed", failures.len());
        Ok(ExitCode::from(1))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectations {
    #[serde(rename = "expect")]
    expectations: Vec<Expectation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    user: String,
    feature: String,
    visible: bool,
    reasons: Option<Vec<String>>,
}

/// Checks a privilege test file: `[[expect]] user = "bob" feature = "remote-access-key" visible = false reasons = ["SETTING_DISABLED"]`.
pub fn check(snapshot: &Snapshot, text: &str, file: &Path) -> Result<Vec<String>> {
    let parsed: Expectations = toml::from_str(text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let mut failures = Vec::new();
    // The line of each `[[expect]]` header, in order, to name a failure by where it is written.
    let headers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[expect]]")
        .map(|(n, _)| n + 1)
        .collect();
    for (i, e) in parsed.expectations.iter().enumerate() {
        let line = headers.get(i).copied().unwrap_or(0);
        let d = super::server::decide(snapshot, &e.user, &e.feature);
        let codes: Vec<String> = d.codes().into_iter().map(str::to_owned).collect();
        let mut problems = Vec::new();
        if d.visible != e.visible {
            let reasons = d
                .reasons
                .iter()
                .map(|r| format!("{}: {r}", r.code()))
                .collect::<Vec<_>>()
                .join("; ");
            problems.push(format!(
                "expected {}, but it is {}{}",
                vis(e.visible),
                vis(d.visible),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({reasons})")
                }
            ));
        }
        if let Some(want) = &e.reasons {
            let (mut w, mut g) = (want.clone(), codes.clone());
            w.sort();
            g.sort();
            if w != g {
                problems.push(format!(
                    "expected reasons [{}], got [{}]",
                    want.join(", "),
                    codes.join(", ")
                ));
            }
        }
        for p in problems {
            failures.push(format!("{}:{line}: {} / {}: {p}", file.display(), e.user, e.feature));
        }
    }
    Ok(failures)
}

fn vis(v: bool) -> &'static str {
    if v { "visible" } else { "hidden" }
}
