//! `tweakgate import --from-whm ROOT`: a real server's privileges as a TOML config (resellers, accounts with owners,
//! the Tweak Settings that differ from WHM's defaults), so they can be kept in git and tested in CI with `check`.
//! Tokens, keys and cluster credentials are never copied; the import says how many it left behind.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use settings::server::ServerTree;
use toml_edit::{Array, DocumentMut, Item, Table, value};

/// The TOML text and the notes for standard error.
pub fn render(tree: &ServerTree) -> Result<(String, Vec<String>)> {
    let mut notes = Vec::new();
    let mut doc = DocumentMut::new();
    doc.decor_mut().set_prefix(format!(
        "# Imported from the cPanel & WHM server at {} by `tweakgate import --from-whm`.\n# API tokens, access keys and cluster credentials are never copied.\n",
        tree.root.display()
    ));
    let mut tweaks = Table::new();
    for def in settings::schema::SETTINGS {
        if !tree.settings.is_explicit(def.key) {
            continue;
        }
        let stored = tree.settings.get(def.key);
        if tree.settings.is_rejected(def.key) {
            notes.push(format!(
                "{} = {:?} left out: not a value the setting takes (WHM's fallback applies)",
                def.key,
                stored.unwrap_or("")
            ));
            continue;
        }
        if stored == def.default {
            continue;
        }
        match def.toml_from_stored(stored) {
            Ok(Some(v)) => {
                tweaks.insert(def.key, value(v));
            }
            Ok(None) => {}
            Err(e) => notes.push(format!("{} left out: {e}", def.key)),
        }
    }
    if !tweaks.is_empty() {
        doc.insert("tweak_settings", Item::Table(tweaks));
    }
    let mut resellers = Table::new();
    resellers.set_implicit(true);
    for r in tree.resellers.values() {
        let mut names: Vec<&str> = r.acls.iter().map(|a| a.name()).collect();
        names.sort_unstable();
        if !r.additional.is_empty() {
            let dropped: Vec<&str> = r.additional.iter().map(String::as_str).collect();
            notes.push(format!(
                "{}: third-party ACLs left out (the TOML config holds WHM's own): {}",
                r.name,
                dropped.join(", ")
            ));
        }
        let mut t = Table::new();
        t.insert("privileges", value(names.into_iter().collect::<Array>()));
        resellers.insert(r.name.as_str(), Item::Table(t));
    }
    doc.insert("resellers", Item::Table(resellers));
    let mut accounts = Table::new();
    accounts.set_implicit(true);
    for a in tree.accounts.values().filter(|a| !tree.resellers.contains_key(&a.name)) {
        let owner = a.owner();
        let owner_known = owner == "root" || tree.resellers.keys().any(|r| r.as_str() == owner);
        if !owner_known {
            notes.push(format!(
                "{}: owner {owner} is not a reseller of this server; imported as owned by root",
                a.name
            ));
        }
        let mut t = Table::new();
        t.insert("owner", value(if owner_known { owner } else { "root" }));
        if let Some(d) = a.cpuser.domain() {
            t.insert("domain", value(d));
        }
        if let Some(p) = a.cpuser.get("PLAN") {
            t.insert("plan", value(p));
        }
        if let Some(e) = a.cpuser.get("CONTACTEMAIL").filter(|e| !e.is_empty()) {
            t.insert("contact_email", value(e));
        }
        if a.suspension.suspended {
            t.insert("suspended", value(a.suspension.reason.as_str()));
        }
        accounts.insert(a.name.as_str(), Item::Table(t));
    }
    doc.insert("accounts", Item::Table(accounts));
    notes.push(format!(
        "imported {} reseller(s), {} account(s) and {} Tweak Setting(s); left behind {} API token(s), {} access key(s) \
         and {} cluster member credential(s), which are never copied",
        tree.resellers.len(),
        tree.accounts
            .values()
            .filter(|a| !tree.resellers.contains_key(&a.name))
            .count(),
        doc.get("tweak_settings").and_then(Item::as_table).map_or(0, Table::len),
        tree.tokens.len(),
        tree.keys.len(),
        tree.cluster.len()
    ));
    Ok((doc.to_string(), notes))
}

/// Reads the tree and writes the config to `output` (replaced whole) or standard output.
pub(crate) fn import(root: &Path, output: Option<&Path>) -> Result<ExitCode> {
    let tree = ServerTree::read(root, super::server::now())?;
    let (text, notes) = render(&tree)?;
    match output {
        Some(path) => credentials::write_atomic(path, text.as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    for n in notes {
        eprintln!("{n}");
    }
    Ok(ExitCode::SUCCESS)
}
