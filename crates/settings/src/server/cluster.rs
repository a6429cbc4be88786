//! Configuration Cluster members of a server tree (§9.6): `var/cpanel/clusterserver/servers.db`, YAML as Perl's
//! YAML::Syck writes it (a mapping of member name to `{key, user}`), read by its structure, never by fixed lines.

use std::fmt;
use std::os::unix::fs::MetadataExt;

use super::{ServerTree, Severity};

const FILE: &str = "var/cpanel/clusterserver/servers.db";

/// A member's credential: shown only as its signature, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct MemberKey(String);

impl MemberKey {
    /// The credential with every character outside `0-9A-Za-z` removed, as WHM uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemberKey(redacted)")
    }
}

/// One member: its name (a host or address), the user on it, and the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMember {
    pub name: String,
    pub user: String,
    pub key: MemberKey,
    pub line: usize,
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(s)
}

pub(super) fn read(tree: &mut ServerTree) {
    let Some(text) = tree.optional(FILE) else { return };
    if let Ok(meta) = std::fs::metadata(tree.path(FILE))
        && meta.mode() & 0o077 != 0
    {
        let m = format!(
            "mode {:04o}: member credentials readable by others; WHM writes 0600",
            meta.mode() & 0o7777
        );
        tree.note("FILE_PERMISSIONS", Severity::Warning, FILE, None, &m);
    }
    let mut members: Vec<(String, usize, Option<String>, Option<String>)> = Vec::new();
    for (n, line) in super::text::numbered(&text) {
        let body = line.trim_end();
        if body.trim().is_empty() || body.trim_start().starts_with('#') || body.starts_with("---") {
            if body.starts_with("---") && body.trim_start_matches('-').trim() == "{}" {
                return;
            }
            continue;
        }
        let indented = body.starts_with([' ', '\t']);
        let Some((k, v)) = body.trim().split_once(':') else {
            let m = "not a \"name:\" or \"field: value\" line of YAML; the file is not read further";
            tree.note("UNREADABLE", Severity::Error, FILE, Some(n), m);
            return;
        };
        match (indented, members.last_mut()) {
            (false, _) if v.trim().is_empty() => members.push((unquote(k).to_owned(), n, None, None)),
            (true, Some(member)) => match k.trim() {
                "key" => member.2 = Some(unquote(v).chars().filter(char::is_ascii_alphanumeric).collect()),
                "user" => member.3 = Some(unquote(v).to_owned()),
                _ => {}
            },
            _ => {
                let m = "not the mapping of member name to {key, user} WHM writes; the file is not read further";
                tree.note("UNREADABLE", Severity::Error, FILE, Some(n), m);
                return;
            }
        }
    }
    for (name, line, key, user) in members {
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            let m = format!(
                "member \"{}\" has no key; WHM cannot send it anything",
                name.escape_debug()
            );
            tree.note("UNREADABLE", Severity::Warning, FILE, Some(line), &m);
            continue;
        };
        tree.cluster.push(ClusterMember {
            name,
            user: user.unwrap_or_else(|| "root".to_owned()),
            key: MemberKey(key),
            line,
        });
    }
}
