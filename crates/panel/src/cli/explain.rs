//! `explain` and `matrix`: whether users see features, and every reason when not.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use settings::Snapshot;

use super::offline_snapshot;

/// `explain`: one feature, or every feature, for one user.
pub(crate) fn explain(config_path: &Path, user: &str, feature: Option<String>, json: bool) -> Result<ExitCode> {
    let (snapshot, plugins) = offline_snapshot(config_path)?;
    let features: Vec<String> = match feature {
        Some(f) => vec![f],
        None => snapshot.features().iter().map(|f| f.id.clone()).collect(),
    };
    if let Some(f) = features.first().filter(|f| snapshot.feature_id(f).is_none()) {
        let ids: Vec<&str> = snapshot.features().iter().map(|s| s.id.as_str()).collect();
        let hint = settings::suggest::did_you_mean(f, ids.iter().copied());
        bail!(
            "unknown feature \"{}\"{hint}; the features are: {}",
            f.escape_debug(),
            ids.join(", ")
        );
    }
    for f in features {
        let d = super::server::decide(&snapshot, user, &f);
        let deprecation = plugins.feature_info(&f).and_then(|i| i.deprecation);
        // On a real server's files: where each fact came from.
        let sources = snapshot
            .config()
            .whm
            .as_deref()
            .map(|tree| super::server::sources(&snapshot, tree, user, &f));
        if json {
            let deprecated = deprecation
                .as_ref()
                .map(|d| serde_json::json!({"since": d.since, "replacement": d.replacement}));
            let mut row = serde_json::json!({"user": user, "feature": f, "visible": d.visible, "reasons": d.reasons, "deprecated": deprecated});
            if let Some(sources) = &sources {
                row["sources"] = serde_json::json!(sources);
            }
            println!("{row}");
            continue;
        }
        if d.visible {
            println!("{f}: visible to {user}");
        } else {
            println!("{f}: hidden from {user}");
            for r in &d.reasons {
                println!("  {}: {r}", r.code());
            }
        }
        for line in sources.iter().flatten() {
            println!("  from {line}");
        }
        if let Some(dep) = &deprecation {
            let instead = if dep.replacement.is_empty() {
                String::new()
            } else {
                format!("; use {} instead", dep.replacement)
            };
            println!("  deprecated since version {}{instead}", dep.since);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `matrix`: every user × every feature.
pub(crate) fn print_matrix(config_path: &Path, json: bool) -> Result<ExitCode> {
    let (snapshot, _plugins) = offline_snapshot(config_path)?;
    print!("{}", matrix(&snapshot, json)?);
    Ok(ExitCode::SUCCESS)
}

/// Renders the privilege matrix as a table or JSON.
pub fn matrix(snapshot: &Snapshot, json: bool) -> Result<String> {
    let users: Vec<_> = snapshot.config().users.all().collect();
    let features: Vec<_> = snapshot.features().iter().filter(|f| !f.group.is_empty()).collect();
    // Visible cells come from the snapshot's bits; hidden ones are explained with reasons borrowed from the
    // snapshot, serialised straight from it.
    let feature_ids: Vec<_> = features.iter().map(|f| snapshot.feature_id(&f.id)).collect();
    let visible = |uid: Option<settings::UserId>, fid: Option<settings::FeatureId>| match (uid, fid) {
        (Some(uid), Some(fid)) => snapshot.is_visible(uid, fid),
        _ => false,
    };
    if json {
        /// A hidden cell's reasons, written as the owned `Reason`s would be.
        struct Reasons<'a>(settings::Explanation<'a>);
        impl serde::Serialize for Reasons<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.reasons())
            }
        }
        // Rows are `{"user":…,"feature":…,"visible":…,"reasons":[…]}`; each name is escaped once, not once per cell.
        let feature_parts = features
            .iter()
            .map(|f| Ok(format!(",\"feature\":{},\"visible\":", serde_json::to_string(&f.id)?)))
            .collect::<Result<Vec<String>>>()?;
        let mut out = Vec::with_capacity(users.len() * features.len() * 80);
        out.push(b'[');
        for (i, (u, _)) in users.iter().enumerate() {
            let head = format!("{{\"user\":{}", serde_json::to_string(u.as_str())?);
            let uid = snapshot.user_id(u.as_str());
            for (j, ((f, part), &fid)) in features.iter().zip(&feature_parts).zip(&feature_ids).enumerate() {
                if i + j > 0 {
                    out.extend_from_slice(b",\n");
                }
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(part.as_bytes());
                if visible(uid, fid) {
                    out.extend_from_slice(b"true,\"reasons\":[]}");
                    continue;
                }
                let explanation = snapshot.explain(u.as_str(), &f.id);
                let shown = explanation.reasons().next().is_none();
                out.extend_from_slice(if shown { b"true" } else { b"false" });
                out.extend_from_slice(b",\"reasons\":");
                serde_json::to_writer(&mut out, &Reasons(explanation))?;
                out.push(b'}');
            }
        }
        // A real server's API tokens follow as principals `<user>/<token name>`.
        let now = super::server::now();
        for token in super::server::token_principals(snapshot) {
            let principal = token.principal();
            for f in &features {
                let d = super::server::decide_token(snapshot, token, &f.id, now);
                out.extend_from_slice(b",\n");
                let row =
                    serde_json::json!({"user": principal, "feature": f.id, "visible": d.visible, "reasons": d.reasons});
                serde_json::to_writer(&mut out, &row)?;
            }
        }
        out.extend_from_slice(b"]\n");
        return Ok(String::from_utf8(out)?);
    }
    let mut cells: Vec<Vec<String>> = vec![
        std::iter::once("user".to_owned())
            .chain(std::iter::once("kind".to_owned()))
            .chain(features.iter().map(|f| f.id.clone()))
            .collect(),
    ];
    for (u, kind) in &users {
        let mut row = vec![u.to_string(), format!("{kind:?}").to_lowercase()];
        let uid = snapshot.user_id(u.as_str());
        for (f, &fid) in features.iter().zip(&feature_ids) {
            row.push(if visible(uid, fid) {
                "yes".to_owned()
            } else {
                let codes: Vec<&str> = snapshot
                    .explain(u.as_str(), &f.id)
                    .reasons()
                    .map(|r| r.code())
                    .collect();
                format!("no: {}", codes.join(","))
            });
        }
        cells.push(row);
    }
    let now = super::server::now();
    for token in super::server::token_principals(snapshot) {
        let mut row = vec![token.principal(), "token".to_owned()];
        for f in &features {
            let d = super::server::decide_token(snapshot, token, &f.id, now);
            row.push(if d.visible {
                "yes".to_owned()
            } else {
                format!("no: {}", d.codes().join(","))
            });
        }
        cells.push(row);
    }
    let widths: Vec<usize> = (0..cells[0].len())
        .map(|i| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in cells {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    Ok(out)
}
