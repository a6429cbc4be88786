//! What every parser of untrusted bytes promises, written once: the cargo-fuzz targets of `fuzz/` and the stable
//! replay of `tests/tests/fuzz.rs` both include this file by path and call the same function for each target.
//!
//! Each function takes arbitrary bytes and panics when a promise is broken. Seeds and regression inputs (every crash
//! found is added there) are the files of `fuzz/corpus/<target>/`, replayed by both.

#![allow(dead_code)]

use std::path::Path;

/// A target's promises: panics when an input breaks one.
pub type Promises = fn(&[u8]);

/// The targets, as named by `fuzz/Cargo.toml`, `fuzz/corpus/` and `.ci/run`, with their properties.
pub const TARGETS: &[(&str, Promises)] = &[
    ("authorization_header", authorization_header),
    ("cpanel_config", cpanel_config),
    ("resellers_file", resellers_file),
    ("acl_list", acl_list),
    ("config_toml", config_toml),
    ("request_body", request_body),
    ("plugin_description", plugin_description),
    ("cluster_journal", cluster_journal),
    ("member_answer", member_answer),
    ("whm_files", whm_files),
];

/// `Authorization` headers: a credential parsed has a user and a secret without control characters, its `Debug`
/// never shows the secret, and an error has a message.
pub fn authorization_header(data: &[u8]) {
    use credentials::{Credential, MAX_HEADER_LEN, parse_authorization};
    match parse_authorization(data) {
        Ok(credential) => {
            assert!(data.len() <= MAX_HEADER_LEN);
            let (user, secret) = (credential.user(), credential.secret().expose());
            assert!(!user.is_empty() && !secret.is_empty() && !user.contains(':'));
            assert!(![user, secret].iter().any(|t| t.bytes().any(|b| b < 0x20 || b == 0x7f)));
            let expected = match &credential {
                Credential::Whm { .. } => format!("Whm {{ user: {user:?}, secret: [REDACTED] }}"),
                Credential::Basic { .. } => format!("Basic {{ user: {user:?}, password: [REDACTED] }}"),
            };
            assert_eq!(format!("{credential:?}"), expected);
            if let Credential::Whm { .. } = credential {
                assert!(std::str::from_utf8(data).is_ok());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// `cpanel.config`: parsing never panics, rendering and parsing again gives the same document, warnings name a real
/// line, and the settings (rejected values included) survive a write in WHM's format; a key or value that is not one
/// clean line is refused, never written.
pub fn cpanel_config(data: &[u8]) {
    use settings::native::CpanelConfig;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let doc = CpanelConfig::parse(text);
    let rendered = doc.render();
    let again = CpanelConfig::parse(&rendered);
    assert_eq!(again, doc, "parse(render(doc)) != doc");
    assert_eq!(again.render(), rendered);
    let (settings, warnings) = doc.to_tweak_settings("cpanel.config");
    for w in &warnings {
        assert!(w.line >= 1 && w.line <= text.lines().count(), "{w}");
        assert_eq!(w.file, "cpanel.config");
    }
    let written = match CpanelConfig::from_settings(&settings) {
        Ok(doc) => doc.render(),
        Err(e) => {
            assert!(
                settings.explicit().any(|(k, v)| k.is_empty()
                    || settings::native::line_break_in(k).is_some()
                    || v.and_then(settings::native::line_break_in).is_some()),
                "refused a clean document: {e}"
            );
            return;
        }
    };
    let (back, _) = CpanelConfig::parse(&written).to_tweak_settings("cpanel.config");
    assert_eq!(back, settings, "settings changed through a write:\n{written}");
}

/// `/var/cpanel/resellers`: a parsed file renders to text that parses back the same; an error names a real line.
pub fn resellers_file(data: &[u8]) {
    use settings::native::ResellersFile;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ResellersFile::parse(text, "resellers") {
        Ok(file) => {
            let again = ResellersFile::parse(&file.render(), "resellers").expect("rendered text parses");
            assert_eq!(again, file);
        }
        Err(e) => assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{e}"),
    }
}

/// `acllists/<name>`: a parsed list renders to text that parses back to the same granted and third-party ACLs; an
/// error names a real line of the file.
pub fn acl_list(data: &[u8]) {
    use settings::native::AclList;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match AclList::parse(text, "acllists/test") {
        Ok(list) => {
            let again = AclList::parse(&list.render(), "acllists/test").expect("rendered text parses");
            assert_eq!(again, list);
        }
        Err(e) => {
            assert!(e.line >= 1 && e.line <= text.lines().count().max(1), "{e}");
            assert_eq!(e.file, "acllists/test");
        }
    }
}

/// The TOML config: an error locates itself (line and column inside the text); a config loads with absolute paths.
pub fn config_toml(data: &[u8]) {
    use settings::{Config, ConfigError};
    const FILE: &str = "/nonexistent-tweakgate-fuzz/tweakgate.toml";
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, Path::new(FILE)) {
        Ok(config) => assert!(config.server.state_dir.is_absolute()),
        Err(ConfigError::Invalid { line, column, .. }) => {
            assert!(line >= 1 && line <= text.split('\n').count() && column >= 1);
        }
        Err(_) => {}
    }
}

/// The content types a WHM API request body is read as; the first byte of an input picks one.
const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/x-www-form-urlencoded"),
    Some("application/octet-stream"),
    Some("application/json"),
    Some("multipart/form-data; boundary=b"),
];

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
}

/// Request bodies of every content type the WHM API reads: never a panic, and a refusal is a clear reason.
pub fn request_body(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(pick) % CONTENT_TYPES.len()];
    let read = RUNTIME.with(|rt| {
        rt.block_on(panel::api_params::from_body(
            content_type,
            axum::body::Bytes::copy_from_slice(body),
        ))
    });
    match read {
        Ok(params) => assert!(!body.is_empty() || params.is_empty()),
        Err(e) => assert!(!e.reason.is_empty()),
    }
}

/// Splits on `sep`, as text.
fn fields(bytes: &[u8], sep: u8) -> Vec<String> {
    bytes
        .split(|b| *b == sep)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// A plugin's description (whatever its author wrote), made from the input: the first line is the name, the second
/// the version, each further line a feature, `id|title|group|path|acls|settings|functions|flags|replacement|api0`
/// with lists split on commas. A description accepted has a valid name, unique valid ids and function names, page paths that stay under
/// `/`, and one set of requirements per feature; a refusal is one line of text, whatever the description held.
pub fn plugin_description(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    let text = |i: usize| {
        lines
            .get(i)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .unwrap_or_default()
    };
    let list = |f: &str| -> Vec<String> {
        if f.is_empty() {
            Vec::new()
        } else {
            f.split(',').map(str::to_owned).collect()
        }
    };
    let mut info = plugin_abi::PluginInfo::new(text(0), text(1));
    for line in lines.iter().skip(2) {
        let f = fields(line, b'|');
        let at = |i: usize| f.get(i).cloned().unwrap_or_default();
        let flags = at(7);
        info.features.push(plugin_abi::Feature {
            id: at(0),
            title: at(1),
            group: at(2),
            path: at(3),
            any_of_acls: list(&at(4)),
            all_settings_on: list(&at(5)),
            deprecation: flags.contains('d').then(|| plugin_abi::Deprecation {
                since: 64,
                replacement: at(8),
            }),
            api_functions: list(&at(6)),
            api0_functions: list(&at(9)),
            root_only: flags.contains('r'),
            full_access: flags.contains('f'),
        });
    }
    let id_ok =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    match plugin_host::check_description(&info) {
        Ok(requirements) => {
            assert!(id_ok(&info.name), "accepted the name {:?}", info.name);
            assert_eq!(requirements.len(), info.features.len());
            let mut ids = std::collections::HashSet::new();
            let mut functions = std::collections::HashSet::new();
            for f in &info.features {
                assert!(id_ok(&f.id) && ids.insert(f.id.clone()), "accepted the id {:?}", f.id);
                assert!(!f.title.trim().is_empty());
                if !f.path.is_empty() {
                    assert!(
                        f.path.starts_with('/') && f.path != "/",
                        "accepted the path {:?}",
                        f.path
                    );
                    assert!(!f.path.split('/').any(|s| s == ".." || s == "."), "{:?}", f.path);
                    assert!(!f.group.trim().is_empty());
                }
                for function in &f.api_functions {
                    assert!(id_ok(function) && functions.insert(function.clone()), "{function:?}");
                }
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            assert!(
                !message.chars().any(char::is_control),
                "a refusal is one line of text: {message:?}"
            );
        }
    }
}

/// The Configuration Cluster's journal as a crash or a full disk may leave it: the repair keeps a prefix that ends
/// on a line break and needs no second repair; the changes come out in order of sequence, after the compacted point
/// and before the next sequence; a change appended after the repair is whole and read back last, with nothing before
/// it lost; a compaction at any cursor keeps every change after it and the sequence; an outbox of older versions
/// gives keys of its own lines only.
pub fn cluster_journal(data: &[u8]) {
    use panel::cluster::journal;
    let outbox_keys = journal::legacy_outbox_keys(data);
    assert!(outbox_keys.len() <= data.split(|b| *b == b'\n').count());
    let good = journal::complete_len(data);
    assert!(good <= data.len());
    let kept = &data[..good];
    assert!(
        kept.is_empty() || kept.ends_with(b"\n"),
        "the repair ends on a line break"
    );
    assert_eq!(journal::complete_len(kept), good, "a repaired journal needs no repair");
    let replay = journal::replay(kept);
    assert!(replay.changes.windows(2).all(|w| w[0].0.seq < w[1].0.seq), "in order");
    if replay.next_seq == u64::MAX {
        // The sequence is spent (a line claims the last number): nothing more is appended to this journal.
        return;
    }
    assert!(
        replay
            .changes
            .iter()
            .all(|(c, _)| c.seq > replay.compacted && c.seq < replay.next_seq)
    );
    let changes_after = |r: &journal::Replay, cursor: u64| -> Vec<panel::cluster::Change> {
        r.changes
            .iter()
            .filter(|(c, _)| c.seq > cursor)
            .map(|(c, _)| c.clone())
            .collect()
    };
    let seqs: Vec<u64> = replay.changes.iter().map(|(c, _)| c.seq).collect();
    let cursors = [
        0,
        replay.compacted,
        seqs.get(seqs.len() / 2).copied().unwrap_or(0),
        replay.next_seq - 1,
    ];
    for cursor in cursors {
        let (compacted, ends) = journal::compact(kept, cursor);
        assert_eq!(
            journal::complete_len(&compacted),
            compacted.len(),
            "a compacted journal is whole"
        );
        let again = journal::replay(&compacted);
        assert_eq!(
            ends,
            again.changes.iter().map(|(_, end)| *end as u64).collect::<Vec<_>>(),
            "memory's offsets are the new file's"
        );
        let effective = cursor.max(replay.compacted).min(replay.next_seq - 1);
        assert_eq!(again.next_seq, replay.next_seq, "the sequence goes on");
        assert_eq!(
            changes_after(&again, 0),
            changes_after(&replay, effective),
            "what waits after {effective} is kept"
        );
    }
    let change = panel::cluster::Change {
        seq: replay.next_seq,
        key: "skipboxtrapper".into(),
        value: Some("1".into()),
        at_ms: 1,
        resync: false,
    };
    let mut appended = kept.to_vec();
    appended.extend_from_slice(&journal::line(&change));
    assert_eq!(
        journal::complete_len(&appended),
        appended.len(),
        "an appended change is whole"
    );
    let again = journal::replay(&appended);
    assert_eq!(
        again.changes.last().map(|(c, _)| c),
        Some(&change),
        "the appended change comes last"
    );
    assert_eq!(
        again.changes.len(),
        replay.changes.len() + 1,
        "nothing before it is lost"
    );
}

/// A member's answer to `set_tweaksetting` (the first two bytes are the HTTP status): 401 and 403 are a refused
/// credential, a 2xx with `result` 1 is a delivery, and whatever text of the member's reaches a log, a file or a page
/// is cut short and has no control characters.
pub fn member_answer(data: &[u8]) {
    use panel::cluster::{MAX_REASON, Outcome, classify};
    let (status, body) = match data {
        [a, b, body @ ..] => (100 + u16::from_be_bytes([*a, *b]) % 500, body),
        _ => return,
    };
    let outcome = classify(status, body);
    let text = match &outcome {
        Outcome::Delivered => {
            assert!((200..300).contains(&status));
            return;
        }
        Outcome::CredentialRefused(t) | Outcome::Rejected(t) | Outcome::Retry(t) => t,
    };
    if status == 401 || status == 403 {
        assert!(matches!(outcome, Outcome::CredentialRefused(_)));
    }
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(text.len() <= MAX_REASON + 80, "{} bytes", text.len());
}

/// The files of a WHM server tree the reader knows, by the number an input picks them with.
const WHM_FILES: &[&str] = &[
    "etc/passwd",
    "etc/shadow",
    "etc/login.defs",
    "etc/userdatadomains",
    "etc/trueuserowners",
    "etc/domainusers",
    "etc/userplans",
    "var/cpanel/resellers",
    "var/cpanel/acllists/test",
    "var/cpanel/users/amy",
    "var/cpanel/users/bob",
    "var/cpanel/authn/api_tokens_v2/whostmgr/root.json",
    "var/cpanel/authn/api_tokens_v2/whostmgr/amy.json",
    "var/cpanel/clusterserver/servers.db",
    "var/cpanel/cpanel.config",
    "var/cpanel/cpanel.config.cache",
];

/// `/etc/passwd` when an input brings none: root and two accounts.
const WHM_PASSWD: &str =
    "root:x:0:0:root:/root:/bin/bash\namy:x:1001:1001::/home/amy:/bin/bash\nbob:x:1002:1002::/home/bob:/bin/bash\n";

/// A WHM server tree made of the input, read by `ServerTree::read`. The input is records split at NUL bytes, each a
/// byte picking a file of `WHM_FILES` (its value modulo their number) then that file's bytes (records for one file are
/// joined). Reading never panics; every finding is about a file of the tree and a line it names exists in that file;
/// what is read back is in the bytes (a passwd user or reseller on the line it is said to come from, an account for a
/// cpuser file written, a token of a store written); and the findings stay bounded by the input.
pub fn whm_files(data: &[u8]) {
    use settings::server::{ServerTree, SettingOrigin, text::numbered};
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);

    let mut files: std::collections::BTreeMap<&str, Vec<u8>> = std::collections::BTreeMap::new();
    for record in data.split(|b| *b == 0) {
        let Some((&pick, bytes)) = record.split_first() else {
            continue;
        };
        let rel = WHM_FILES[usize::from(pick) % WHM_FILES.len()];
        files.entry(rel).or_default().extend_from_slice(bytes);
    }
    files
        .entry("etc/passwd")
        .or_insert_with(|| WHM_PASSWD.as_bytes().to_vec());
    let root = std::env::temp_dir().join(format!(
        "tweakgate-fuzz-whm-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    for (rel, bytes) in &files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory of the tree");
        std::fs::write(&path, bytes).expect("a file of the tree");
    }
    let read = ServerTree::read(&root, 1_700_000_000);
    let _ = std::fs::remove_dir_all(&root);
    let tree = match read {
        Ok(tree) => tree,
        Err(e) => panic!("etc/passwd was written, yet the tree was refused: {e}"),
    };
    let text = |rel: &str| String::from_utf8_lossy(files.get(rel).map_or(&[][..], Vec::as_slice)).into_owned();
    let line_at = |rel: &str, n: usize| numbered(&text(rel)).nth(n.wrapping_sub(1)).map(|(_, l)| l.to_owned());
    let shown = root.display().to_string();
    let total: usize = files.values().map(Vec::len).sum();
    assert!(tree.findings.len() <= total + 32, "{} findings", tree.findings.len());
    for f in &tree.findings {
        let rel = f
            .path
            .strip_prefix(&shown)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or_else(|| panic!("a finding outside the tree: {f}"));
        assert!(!f.message.is_empty() && f.message.len() <= 1024 + total, "{f}");
        if let Some(n) = f.line {
            assert!(files.contains_key(rel), "a line of a file not written: {f}");
            assert!(line_at(rel, n).is_some(), "no line {n} in {rel}: {f}");
        }
    }
    for (name, p) in &tree.passwd {
        let line = line_at("etc/passwd", p.line).expect("a passwd entry's line exists");
        assert!(line.starts_with(&format!("{name}:")), "{name} from {line:?}");
    }
    for (name, r) in &tree.resellers {
        assert_eq!(r.source.path, format!("{shown}/var/cpanel/resellers"));
        let line = line_at("var/cpanel/resellers", r.source.line.expect("a line")).expect("a reseller's line exists");
        assert!(line.starts_with(&format!("{name}:")), "{name} from {line:?}");
        assert!(tree.passwd.contains_key(name.as_str()), "{name} has a system user");
    }
    for name in tree.accounts.keys() {
        assert!(
            files.contains_key(format!("var/cpanel/users/{name}").as_str()),
            "{name}"
        );
        assert!(tree.passwd.contains_key(name.as_str()), "{name} has a system user");
    }
    for t in &tree.tokens {
        assert!(
            files.contains_key(format!("var/cpanel/authn/api_tokens_v2/whostmgr/{}.json", t.user).as_str()),
            "{}",
            t.principal()
        );
        assert!(
            t.hash.len() == 128 && t.hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            t.hash
        );
    }
    for m in &tree.cluster {
        assert!(
            line_at("var/cpanel/clusterserver/servers.db", m.line).is_some(),
            "{}",
            m.name
        );
        assert!(!m.key.expose().bytes().any(|b| !b.is_ascii_alphanumeric()));
    }
    for (key, origin) in &tree.setting_origins {
        if let SettingOrigin::File(source) = origin {
            let line = line_at("var/cpanel/cpanel.config", source.line.expect("a line")).expect("its line exists");
            assert!(line.contains(key.as_str()), "{key} from {line:?}");
        }
    }
}
