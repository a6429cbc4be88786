//! cPanel's own file formats, read and written the way WHM does: `cpanel.config`, `resellers` and `acllists/<name>`.
//!
//! Parsing never drops what it does not understand: unknown keys and third-party ACLs survive a rewrite.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::acl::{Acl, AclSet};
use crate::tweak::TweakSettings;
use crate::username::Username;
use crate::users::Reseller;

/// A problem in a native file, with the file name and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct NativeError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// A value in a native file that the schema rejects: kept as written, with the setting's fallback in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NativeWarning {
    pub file: String,
    /// 1-based line of the occurrence in force (the last one of the key).
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for NativeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.key, self.message)
    }
}

/// The start of every refusal of a line break in a key or value: WHM keeps one `key=value` per line and refuses
/// multi-line values, so a value can never add a line of its own to a native file.
pub const MULTI_LINE_REFUSED: &str = "multi-line values are not allowed";

/// The first line break (LF, CR) or NUL in a text, named for an error; `None` when the text is one clean line.
pub fn line_break_in(text: &str) -> Option<&'static str> {
    text.chars().find_map(|c| match c {
        '\n' => Some("a line feed"),
        '\r' => Some("a carriage return"),
        '\0' => Some("a NUL character"),
        _ => None,
    })
}

/// The rule for every Tweak Setting value, whatever its source (the API, a page, a cluster master, the TOML
/// config): one line, with no CR, LF or NUL.
pub fn check_one_line(value: &str) -> Result<(), String> {
    match line_break_in(value) {
        Some(what) => Err(format!("{MULTI_LINE_REFUSED}: the value holds {what}")),
        None => Ok(()),
    }
}

/// Why a key or value cannot be written as one `cpanel.config` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{key}\": {why}")]
pub struct LineError {
    /// The key, escaped for showing.
    pub key: String,
    pub why: String,
}

/// The one check of everything written into a `cpanel.config` line: the key is a bare name (not empty, no `=`, no
/// surrounding blanks, not a comment) and neither it nor the value holds a line break or NUL.
fn entry(key: &str, value: Option<&str>) -> Result<Line, LineError> {
    let refuse = |why: String| LineError {
        key: key.escape_debug().to_string(),
        why,
    };
    if let Some(what) = line_break_in(key) {
        return Err(refuse(format!("{MULTI_LINE_REFUSED}: the key holds {what}")));
    }
    if key.is_empty() || key.contains('=') || key.trim() != key || key.starts_with(['#', ';']) {
        return Err(refuse("cannot be a cpanel.config key".to_owned()));
    }
    if let Some(v) = value {
        check_one_line(v).map_err(refuse)?;
    }
    Ok(Line::Entry {
        key: key.to_owned(),
        value: value.map(str::to_owned),
    })
}

/// The banner WHM writes at the top of `cpanel.config`.
pub const CPANEL_CONFIG_BANNER: &str = "# cpanel.config: Tweak Settings, written by Tweakgate in WHM's format\n# Do not edit while the panel is writing; changes are picked up without a restart\n";

/// One line of `cpanel.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// A comment or blank line, kept verbatim (without its line ending).
    Other(String),
    /// `key=value`, or a bare `key` (undefined) when the value is `None`.
    Entry { key: String, value: Option<String> },
}

/// `/var/cpanel/cpanel.config` as a document: comments, order and unknown keys are kept when a key is changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpanelConfig {
    lines: Vec<Line>,
}

impl CpanelConfig {
    /// Parses the file as WHM does: `#` or `;` comments, bare keys are undefined, CRLF tolerated, the last duplicate wins.
    pub fn parse(text: &str) -> CpanelConfig {
        let lines = text
            .lines()
            .map(|raw| {
                let line = raw.trim_end_matches('\r');
                let trimmed = line.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                    return Line::Other(line.to_owned());
                }
                match line.split_once('=') {
                    Some((k, v)) => Line::Entry {
                        key: k.trim().to_owned(),
                        value: Some(v.to_owned()),
                    },
                    None => Line::Entry {
                        key: line.trim().to_owned(),
                        value: None,
                    },
                }
            })
            .collect();
        CpanelConfig { lines }
    }

    /// The values as WHM reads them: the last occurrence of a key wins.
    pub fn values(&self) -> BTreeMap<&str, Option<&str>> {
        let mut map = BTreeMap::new();
        for (key, value) in self.entries() {
            map.insert(key, value);
        }
        map
    }

    fn entries(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.lines.iter().filter_map(|l| match l {
            Line::Entry { key, value } => Some((key.as_str(), value.as_deref())),
            Line::Other(_) => None,
        })
    }

    /// The settings, read leniently key by key as WHM keeps working: a value the schema rejects is kept as written,
    /// its setting's fallback is in force, and the line in force for that key is reported as a warning.
    /// Warnings come in line order; a key whose last occurrence is valid has none.
    pub fn to_tweak_settings(&self, file: &str) -> (TweakSettings, Vec<NativeWarning>) {
        let mut settings = TweakSettings::defaults();
        let mut warnings: BTreeMap<&str, NativeWarning> = BTreeMap::new();
        for (i, line) in self.lines.iter().enumerate() {
            let Line::Entry { key, value } = line else {
                continue;
            };
            match settings.keep_stored(key, value.clone()) {
                None => {
                    warnings.remove(key.as_str());
                }
                Some(problem) => {
                    let in_force = settings.in_force(key);
                    let shown = crate::schema::setting(key).map_or_else(String::new, |d| d.shown(in_force));
                    let fallback = match in_force {
                        Some(_) => format!("\"{}\"", shown.escape_debug()),
                        None => shown,
                    };
                    let warning = NativeWarning {
                        file: file.to_owned(),
                        line: i + 1,
                        key: key.clone(),
                        message: format!("{problem}; the value is kept as written and {fallback} is in force"),
                    };
                    warnings.insert(key, warning);
                }
            }
        }
        let mut warnings: Vec<NativeWarning> = warnings.into_values().collect();
        warnings.sort_by_key(|w| w.line);
        (settings, warnings)
    }

    /// Sets a key in place: the last occurrence is changed and earlier duplicates removed; a new key is appended.
    /// A key or value that is not one clean line is refused and nothing changes.
    pub fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), LineError> {
        let line = entry(key, value)?;
        let last = self
            .lines
            .iter()
            .rposition(|l| matches!(l, Line::Entry { key: k, .. } if k == key));
        match last {
            Some(i) => {
                self.lines[i] = line;
                let mut idx = 0;
                self.lines.retain(|l| {
                    let keep = idx >= i || !matches!(l, Line::Entry { key: k, .. } if k == key);
                    idx += 1;
                    keep
                });
            }
            None => self.lines.push(line),
        }
        Ok(())
    }

    /// A new file in WHM's format: the banner, then every explicit key sorted, `=` as delimiter; refused when a key
    /// or value is not one clean line.
    pub fn from_settings(settings: &TweakSettings) -> Result<CpanelConfig, LineError> {
        let mut lines: Vec<Line> = CPANEL_CONFIG_BANNER
            .lines()
            .map(|l| Line::Other(l.to_owned()))
            .collect();
        for (k, v) in settings.explicit() {
            lines.push(entry(k, v)?);
        }
        Ok(CpanelConfig { lines })
    }

    /// The file text, each line ending in `\n`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Other(s) => out.push_str(s),
                Line::Entry { key, value: Some(v) } => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(v);
                }
                Line::Entry { key, value: None } => out.push_str(key),
            }
            out.push('\n');
        }
        out
    }
}

/// `/var/cpanel/resellers`: one `user:acl1,acl2,…` line per reseller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResellersFile {
    /// Each reseller's ACL names as written: built-in and third-party.
    pub resellers: BTreeMap<Username, BTreeSet<String>>,
}

impl ResellersFile {
    /// Parses as WHM does: spaces and tabs ignored, `#` lines and lines without `:` skipped, `user:` alone still a reseller.
    pub fn parse(text: &str, file: &str) -> Result<ResellersFile, NativeError> {
        let mut resellers = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line: String = raw.chars().filter(|c| !matches!(c, ' ' | '\t' | '\r')).collect();
            if line.starts_with('#') {
                continue;
            }
            let Some((user, acls)) = line.split_once(':') else {
                continue;
            };
            let user = Username::new(user).map_err(|e| NativeError {
                file: file.to_owned(),
                line: i + 1,
                message: format!("invalid reseller name \"{}\": {e}", user.escape_debug()),
            })?;
            if user.is_root() {
                let message = crate::users::ROOT_IS_NOT_A_RESELLER.to_owned();
                return Err(NativeError {
                    file: file.to_owned(),
                    line: i + 1,
                    message,
                });
            }
            let acls = acls
                .split(',')
                .filter(|a| !a.is_empty())
                .map(normalise_acl_name)
                .collect();
            resellers.insert(user, acls);
        }
        Ok(ResellersFile { resellers })
    }

    /// The resellers with their privileges; names the catalogue does not know are kept as additional ACLs.
    pub fn to_resellers(&self) -> BTreeMap<Username, Reseller> {
        self.resellers
            .iter()
            .map(|(name, acls)| {
                let (privileges, additional) = split_acls(acls.iter().map(String::as_str));
                (
                    name.clone(),
                    Reseller {
                        name: name.clone(),
                        privileges,
                        additional,
                        home: None,
                        password_hash: None,
                        suspended: None,
                    },
                )
            })
            .collect()
    }

    pub fn from_resellers<'a>(resellers: impl IntoIterator<Item = &'a Reseller>) -> ResellersFile {
        let resellers = resellers
            .into_iter()
            .map(|r| {
                let mut names: BTreeSet<String> = r.privileges.iter().map(|a| a.name().to_owned()).collect();
                names.extend(r.additional.iter().cloned());
                (r.name.clone(), names)
            })
            .collect();
        ResellersFile { resellers }
    }

    /// The file as WHM writes it: resellers sorted, each ACL list sorted.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (user, acls) in &self.resellers {
            out.push_str(user.as_str());
            out.push(':');
            out.push_str(&acls.iter().map(String::as_str).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }
}

fn normalise_acl_name(name: &str) -> String {
    Acl::from_name(name).map_or_else(|| name.to_owned(), |a| a.name().to_owned())
}

fn split_acls<'a>(names: impl Iterator<Item = &'a str>) -> (AclSet, BTreeSet<String>) {
    let mut set = AclSet::EMPTY;
    let mut additional = BTreeSet::new();
    for n in names {
        match Acl::from_name(n) {
            Some(a) => set.insert(a),
            None => {
                additional.insert(n.to_owned());
            }
        }
    }
    (set, additional)
}

/// The one rule for a saved privilege list name, said in every refusal: WHM's (not empty, no `/`, `..` or `(`), and
/// nothing a file name or a listing would hide or misread.
pub const ACL_LIST_NAME_RULE: &str = "a list name is 1 to 200 bytes with no whitespace, no control characters, no \"/\", \"\\\", \"..\" or \"(\", and does not start with \".\" or \"-\"";

/// The longest saved list name, in bytes: well inside a file name's 255.
pub const MAX_ACL_LIST_NAME: usize = 200;

/// Why a saved privilege list name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ACL list name \"{name}\": {why}; {ACL_LIST_NAME_RULE}")]
pub struct AclListNameError {
    /// The name, escaped for showing (cut when very long).
    pub name: String,
    pub why: &'static str,
}

/// Checks a saved privilege list name against [`ACL_LIST_NAME_RULE`]; a name that passes is one `listacls` shows.
pub fn check_acl_list_name(name: &str) -> Result<(), AclListNameError> {
    let why = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_ACL_LIST_NAME {
        "is too long"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else if name.chars().any(char::is_whitespace) {
        "must not contain whitespace"
    } else if name.contains(['/', '\\']) {
        "must not contain a path separator"
    } else if name.contains("..") {
        "must not contain \"..\""
    } else if name.contains('(') {
        "must not contain \"(\""
    } else if name.starts_with('.') {
        "must not start with \".\""
    } else if name.starts_with('-') {
        "must not start with \"-\""
    } else {
        return Ok(());
    };
    let shown: String = name.chars().take(64).collect();
    let cut = if shown.len() < name.len() { "…" } else { "" };
    Err(AclListNameError {
        name: format!("{}{cut}", shown.escape_debug()),
        why,
    })
}

/// `/var/cpanel/acllists/<name>`: a saved privilege list, one `acl=1` or `acl=0` line per known ACL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclList {
    pub granted: AclSet,
    /// Third-party ACLs with their 0/1 value, kept for rewriting.
    pub additional: BTreeMap<String, bool>,
}

impl AclList {
    pub fn parse(text: &str, file: &str) -> Result<AclList, NativeError> {
        let mut list = AclList::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| NativeError {
                file: file.to_owned(),
                line: i + 1,
                message,
            };
            let Some((name, value)) = line.split_once('=') else {
                return Err(err(format!(
                    "expected \"acl=1\" or \"acl=0\", found \"{}\"",
                    line.escape_debug()
                )));
            };
            let on = match value.trim() {
                "1" => true,
                "0" => false,
                other => {
                    return Err(err(format!(
                        "{}: expected 1 or 0, found \"{}\"",
                        name.trim(),
                        other.escape_debug()
                    )));
                }
            };
            match Acl::from_name(name.trim()) {
                Some(a) if on => list.granted.insert(a),
                Some(a) => list.granted.remove(a),
                None => {
                    list.additional.insert(name.trim().to_owned(), on);
                }
            }
        }
        Ok(list)
    }

    /// One line per built-in ACL in catalogue order, then third-party ACLs sorted.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for a in Acl::iter() {
            out.push_str(&format!("{}={}\n", a.name(), u8::from(self.granted.contains(a))));
        }
        for (name, on) in &self.additional {
            out.push_str(&format!("{name}={}\n", u8::from(*on)));
        }
        out
    }
}

impl fmt::Display for CpanelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REALISTIC: &str = "# cpanel.config generated by WHM\r\n\
; another comment style\r\n\
\r\n\
allow_deprecated_accesshash=1\r\n\
maxemailsperhour\r\n\
empty_trash_days=\r\n\
cookieipvalidation=loose\r\n\
allow_deprecated_accesshash=0\r\n\
some_key_from_a_newer_whm=hello=world\r\n\
   # indented comment\r\n";

    #[test]
    fn parses_realistic_cpanel_config() {
        let c = CpanelConfig::parse(REALISTIC);
        let v = c.values();
        assert_eq!(v["allow_deprecated_accesshash"], Some("0"), "last duplicate wins");
        assert_eq!(v["maxemailsperhour"], None, "bare key is undefined");
        assert_eq!(v["empty_trash_days"], Some(""), "key= is the empty string");
        assert_eq!(
            v["some_key_from_a_newer_whm"],
            Some("hello=world"),
            "split at the first ="
        );
        assert_eq!(v.len(), 5);
    }

    #[test]
    fn schema_checks_name_the_line() {
        let c = CpanelConfig::parse(REALISTIC);
        let (settings, warnings) = c.to_tweak_settings("cpanel.config");
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "cpanel.config:6: empty_trash_days: expected \"disabled\" or a whole number, found \"\"; the value is kept \
              as written and \"disabled\" is in force"
            ]
        );
        assert_eq!(settings.get("empty_trash_days"), Some(""));
        assert_eq!(settings.in_force("empty_trash_days"), Some("disabled"));
        let (ok, none) = CpanelConfig::parse("allow_deprecated_accesshash=1\nunknown_key\n").to_tweak_settings("x");
        assert!(none.is_empty());
        assert!(ok.is_on("allow_deprecated_accesshash"));
        assert!(ok.is_explicit("unknown_key"));
    }

    /// One row per case: `cpanel.config` text in; the warnings (line and key) and the decisions out.
    #[test]
    fn native_values_are_lenient_key_by_key() {
        struct Case {
            text: &'static str,
            warnings: &'static [(usize, &'static str)],
            /// (key, `get_tweaksetting`'s stored value, the value in force)
            values: &'static [(&'static str, Option<&'static str>, Option<&'static str>)],
            accesshash_on: bool,
        }
        let cases = [
            Case {
                text: "allow_deprecated_accesshash=yes\n",
                warnings: &[(1, "allow_deprecated_accesshash")],
                values: &[("allow_deprecated_accesshash", Some("yes"), Some("0"))],
                accesshash_on: false,
            },
            Case {
                text: "allow_deprecated_accesshash=2\nrequiressl=on\n",
                warnings: &[(1, "allow_deprecated_accesshash"), (2, "requiressl")],
                values: &[("requiressl", Some("on"), Some("1"))],
                accesshash_on: false,
            },
            Case {
                text: "allow_deprecated_accesshash\n",
                warnings: &[(1, "allow_deprecated_accesshash")],
                values: &[("allow_deprecated_accesshash", None, Some("0"))],
                accesshash_on: false,
            },
            Case {
                text: "allow_deprecated_accesshash=1\nmaxcpsrvdconnections=20\nloadthreshold=high\n",
                warnings: &[(2, "maxcpsrvdconnections"), (3, "loadthreshold")],
                values: &[
                    ("maxcpsrvdconnections", Some("20"), Some("200")),
                    ("loadthreshold", Some("high"), None),
                ],
                accesshash_on: true,
            },
            Case {
                // The line in force is the last one: an earlier bad one is overridden and not reported.
                text: "cookieipvalidation=relaxed\ncookieipvalidation=loose\nnumacctlist=many\nnumacctlist=lots\n",
                warnings: &[(4, "numacctlist")],
                values: &[
                    ("cookieipvalidation", Some("loose"), Some("loose")),
                    ("numacctlist", Some("lots"), Some("30")),
                ],
                accesshash_on: false,
            },
            Case {
                text: "# fine\nloadthreshold=1.75\nfile_upload_max_bytes\ndormant_services=cpdavd,spamd\n",
                warnings: &[],
                values: &[
                    ("loadthreshold", Some("1.75"), Some("1.75")),
                    ("file_upload_max_bytes", None, None),
                ],
                accesshash_on: false,
            },
        ];
        let mut wrong = Vec::new();
        for case in &cases {
            let (settings, warnings) = CpanelConfig::parse(case.text).to_tweak_settings("cpanel.config");
            let got: Vec<(usize, &str)> = warnings.iter().map(|w| (w.line, w.key.as_str())).collect();
            if got != case.warnings {
                wrong.push(format!("{:?}: warnings {got:?}, want {:?}", case.text, case.warnings));
            }
            for (key, stored, in_force) in case.values {
                let got = (settings.get(key), settings.in_force(key));
                if got != (*stored, *in_force) {
                    wrong.push(format!(
                        "{:?}: {key} is {got:?}, want {:?}",
                        case.text,
                        (stored, in_force)
                    ));
                }
            }
            if settings.is_on(crate::schema::ALLOW_DEPRECATED_ACCESSHASH) != case.accesshash_on {
                wrong.push(format!("{:?}: allow_deprecated_accesshash on is wrong", case.text));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    /// A rewrite (`set` of another key) keeps a line holding a rejected value byte for byte.
    #[test]
    fn a_rewrite_keeps_a_rejected_line_untouched() {
        let text = "# banner\nallow_deprecated_accesshash=yes please \nloadthreshold=\tnine\ncsp=0\n";
        let mut doc = CpanelConfig::parse(text);
        let (_, warnings) = doc.to_tweak_settings("cpanel.config");
        assert_eq!(warnings.len(), 2);
        doc.set("csp", Some("1")).unwrap();
        let out = doc.render();
        assert_eq!(
            out,
            "# banner\nallow_deprecated_accesshash=yes please \nloadthreshold=\tnine\ncsp=1\n"
        );
        let (again, warnings) = CpanelConfig::parse(&out).to_tweak_settings("cpanel.config");
        assert_eq!(warnings.len(), 2);
        assert_eq!(again.get("allow_deprecated_accesshash"), Some("yes please "));
        assert!(again.is_on("csp"));
    }

    #[test]
    fn set_keeps_comments_and_unknown_keys() {
        let mut c = CpanelConfig::parse(
            "# banner\nzeta=1\nallow_deprecated_accesshash=0\n; note\nallow_deprecated_accesshash=0\n",
        );
        c.set("allow_deprecated_accesshash", Some("1")).unwrap();
        c.set("newkey", None).unwrap();
        assert_eq!(
            c.render(),
            "# banner\nzeta=1\n; note\nallow_deprecated_accesshash=1\nnewkey\n"
        );
    }

    /// `value="a\nallow_deprecated_accesshash=0"` added a later line that won over the real one.
    #[test]
    fn a_line_break_or_nul_is_refused_in_every_key_and_value() {
        let text = "# banner\nallow_deprecated_accesshash=1\nallow_server_info_status_from=\n";
        let mut doc = CpanelConfig::parse(text);
        for (key, value, why) in [
            (
                "allow_server_info_status_from",
                "a\nallow_deprecated_accesshash=0",
                "\"allow_server_info_status_from\": multi-line values are not allowed: the value holds a line feed",
            ),
            (
                "allow_server_info_status_from",
                "a\r",
                "\"allow_server_info_status_from\": multi-line values are not allowed: the value holds a carriage return",
            ),
            (
                "allow_server_info_status_from",
                "a\0b",
                "\"allow_server_info_status_from\": multi-line values are not allowed: the value holds a NUL character",
            ),
            (
                "x\nallow_deprecated_accesshash",
                "0",
                "\"x\\nallow_deprecated_accesshash\": multi-line values are not allowed: the key holds a line feed",
            ),
            ("a=b", "0", "\"a=b\": cannot be a cpanel.config key"),
            ("#x", "0", "\"#x\": cannot be a cpanel.config key"),
            (" x", "0", "\" x\": cannot be a cpanel.config key"),
            ("", "0", "\"\": cannot be a cpanel.config key"),
        ] {
            let e = doc.set(key, Some(value)).unwrap_err();
            assert_eq!(e.to_string(), why, "{key:?}={value:?}");
            assert_eq!(doc.render(), text, "nothing changed for {key:?}={value:?}");
        }
        let mut t = TweakSettings::defaults();
        t.keep_stored("zzz", Some("a\0b".into()));
        assert!(CpanelConfig::from_settings(&t).is_err());
        // The same rule holds for every source of a value: a strict set (TOML, API, cluster) refuses it too.
        let mut t = TweakSettings::defaults();
        for key in ["allow_server_info_status_from", "some_unmodelled_key"] {
            let e = t
                .set_stored(key, Some("a\nallow_deprecated_accesshash=0".into()))
                .unwrap_err();
            assert_eq!(
                e, "multi-line values are not allowed: the value holds a line feed",
                "{key}"
            );
            assert!(!t.is_explicit(key));
        }
        assert_eq!(
            crate::schema::setting("allow_server_info_status_from")
                .unwrap()
                .check_stored(Some("a\r\nb")),
            Err("multi-line values are not allowed: the value holds a carriage return".to_owned())
        );
    }

    #[test]
    fn writes_banner_then_sorted_keys() {
        let mut t = TweakSettings::defaults();
        t.set_stored("zzz_unknown", Some("x".into())).unwrap();
        t.set_stored("allow_deprecated_accesshash", Some("1".into())).unwrap();
        t.set_stored("maxemailsperhour", None).unwrap();
        let text = CpanelConfig::from_settings(&t).unwrap().render();
        assert!(text.starts_with(CPANEL_CONFIG_BANNER));
        assert!(
            text.ends_with("allow_deprecated_accesshash=1\nmaxemailsperhour\nzzz_unknown=x\n"),
            "{text}"
        );
        assert_eq!(CpanelConfig::parse(&text).to_tweak_settings("x"), (t, Vec::new()));
    }

    #[test]
    fn parses_resellers_file() {
        let text = "# resellers\nbob: manage-api-tokens ,\tlist-accts\ncarol:all\nempty:\nnot a reseller line\ndan:onlyselfandglobalpkgs,thirdparty-acl\n";
        let f = ResellersFile::parse(text, "resellers").unwrap();
        let r = f.to_resellers();
        assert_eq!(r.len(), 4);
        let bob = &r[&Username::new("bob").unwrap()];
        assert!(bob.privileges.contains(Acl::MANAGE_API_TOKENS));
        assert!(r[&Username::new("carol").unwrap()].privileges.has_all());
        assert!(r[&Username::new("empty").unwrap()].privileges.is_empty());
        let dan = &r[&Username::new("dan").unwrap()];
        assert!(dan.privileges.contains(Acl::from_name("viewglobalpackages").unwrap()));
        assert!(dan.additional.contains("thirdparty-acl"));
        assert_eq!(
            ResellersFile::from_resellers(r.values()).render(),
            "bob:list-accts,manage-api-tokens\ncarol:all\ndan:thirdparty-acl,viewglobalpackages\nempty:\n"
        );
    }

    #[test]
    fn resellers_file_refuses_bad_names() {
        let root = ResellersFile::parse("ok:all\nroot:all\n", "resellers").unwrap_err();
        assert_eq!(
            root.to_string(),
            "resellers:2: root is not a reseller: it always holds every privilege"
        );
        let err = ResellersFile::parse("ok:all\n../root:all\n", "resellers").unwrap_err();
        assert_eq!(
            err.to_string(),
            "resellers:2: invalid reseller name \"../root\": a username must start with a lowercase letter"
        );
    }

    #[test]
    fn acl_lists() {
        let l = AclList::parse(
            "list-accts=1\nmanage-api-tokens=0\nvendor-thing=1\n\n",
            "acllists/basic",
        )
        .unwrap();
        assert!(l.granted.contains(Acl::from_name("list-accts").unwrap()));
        assert!(!l.granted.contains(Acl::MANAGE_API_TOKENS));
        let text = l.render();
        assert_eq!(text.lines().count(), 65);
        assert_eq!(AclList::parse(&text, "x").unwrap(), l);
        assert!(
            AclList::parse("list-accts=yes\n", "f")
                .unwrap_err()
                .to_string()
                .contains("f:1: list-accts: expected 1 or 0")
        );
        assert!(check_acl_list_name("Basic-Reseller").is_ok());
        assert!(check_acl_list_name("billing_2.0").is_ok());
        assert!(check_acl_list_name("réseller").is_ok());
    }

    /// Names with a newline, a trailing space, a leading dash, or a leading dot (which `listacls`
    /// then hid) were saved. One rule, said in the error.
    #[test]
    fn acl_list_names_follow_one_rule() {
        for (bad, why) in [
            ("", "must not be empty"),
            ("a/b", "must not contain a path separator"),
            ("a\\b", "must not contain a path separator"),
            ("..", "must not contain \"..\""),
            ("x(y", "must not contain \"(\""),
            ("a\nb", "must not contain control characters"),
            ("a\rb", "must not contain control characters"),
            ("a\0b", "must not contain control characters"),
            ("a\u{7f}", "must not contain control characters"),
            ("billing ", "must not contain whitespace"),
            ("a\tb", "must not contain control characters"),
            ("a\u{a0}b", "must not contain whitespace"),
            ("-rf", "must not start with \"-\""),
            (".hidden", "must not start with \".\""),
        ] {
            let e = check_acl_list_name(bad).unwrap_err();
            assert_eq!(e.why, why, "{bad:?}");
            let text = e.to_string();
            assert!(text.ends_with(ACL_LIST_NAME_RULE), "{text}");
            assert!(!text.contains(['\n', '\r', '\0']), "{text:?}");
        }
        let long = "a".repeat(MAX_ACL_LIST_NAME + 1);
        let e = check_acl_list_name(&long).unwrap_err();
        assert_eq!(e.why, "is too long");
        assert!(e.to_string().len() < 400, "{e}");
        assert!(check_acl_list_name(&long[1..]).is_ok());
    }

    fn stored_value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![Just(None), "[ -~&&[^\r\n]]{0,12}".prop_map(Some)]
    }

    proptest! {
        #[test]
        fn cpanel_config_round_trips(entries in proptest::collection::btree_map("[a-z_][a-z0-9_-]{0,20}", stored_value(), 0..20)) {
            let mut doc = CpanelConfig::parse("");
            for (k, v) in &entries {
                doc.set(k, v.as_deref()).unwrap();
            }
            let text = doc.render();
            let again = CpanelConfig::parse(&text);
            let got: BTreeMap<String, Option<String>> = again.values().into_iter().map(|(k, v)| (k.to_owned(), v.map(str::to_owned))).collect();
            prop_assert_eq!(&got, &entries);
            prop_assert_eq!(again.render(), text);
        }

        /// Whatever a caller sends, a `set` adds no line but its own and the key reads back as sent, or is refused.
        #[test]
        fn a_set_writes_exactly_one_line_or_nothing(key in "[a-z_]{1,8}|\\PC{0,8}|[a-z]{1,4}[\r\n\0][a-z]{0,4}", value in proptest::option::of("\\PC{0,12}|[a-z=]{0,4}[\r\n\0][a-z=]{0,4}")) {
            let text = "# banner\ncsp=0\n";
            let mut doc = CpanelConfig::parse(text);
            match doc.set(&key, value.as_deref()) {
                Ok(()) => {
                    let out = doc.render();
                    prop_assert!(out.lines().count() <= 3, "{:?}", out);
                    let again = CpanelConfig::parse(&out);
                    prop_assert_eq!(again.values().get(key.as_str()).copied(), Some(value.as_deref()));
                }
                Err(e) => {
                    prop_assert_eq!(doc.render(), text);
                    prop_assert!(!e.to_string().contains(['\n', '\r', '\0']), "{}", e);
                }
            }
        }

        #[test]
        fn cpanel_config_parse_never_panics(text in "\\PC{0,200}") {
            let c = CpanelConfig::parse(&text);
            let _ = c.to_tweak_settings("fuzz");
            let again = CpanelConfig::parse(&c.render());
            prop_assert_eq!(again.values(), c.values());
        }

        #[test]
        fn resellers_round_trip(map in proptest::collection::btree_map("[a-z][a-z0-9]{0,15}".prop_filter("root is never a reseller", |u| u != "root"), proptest::collection::btree_set(proptest::sample::select(Acl::names().collect::<Vec<_>>()), 0..10), 0..10)) {
            let text: String = map.iter().map(|(u, acls)| format!("{u}:{}\n", acls.iter().copied().collect::<Vec<_>>().join(","))).collect();
            let f = ResellersFile::parse(&text, "r").unwrap();
            let rendered = ResellersFile::from_resellers(f.to_resellers().values()).render();
            prop_assert_eq!(&rendered, &text);
        }

        #[test]
        fn native_parsers_never_panic(text in "\\PC{0,200}") {
            let _ = ResellersFile::parse(&text, "r");
            let _ = AclList::parse(&text, "a");
        }
    }

    /// The example `cpanel.config` in WHM API 1's documentation, "Update configuration file from backup via POST"
    /// (`restore_config_from_upload`, version 11.138.0.6): a file as WHM writes it. Every value in it must pass the
    /// schema, or a real server's file would be refused.
    #[test]
    fn whm_api_example_file_loads() {
        let config = CpanelConfig::parse(WHM_API_EXAMPLE);
        let (settings, warnings) = config.to_tweak_settings("cpanel.config");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(settings.get("defaultmailaction"), Some("localuser"));
        assert_eq!(settings.get("emailusers_diskusage_critical_percent"), Some("90.0000"));
        assert_eq!(settings.get("maxemailsperhour"), None);
        // Keys WHM may leave undefined load bare too.
        let bare = CpanelConfig::parse(
            "tcp_check_failure_threshold\ndns_recursive_query_pool_size\nupdate_log_analysis_retention_length\n",
        );
        assert!(bare.to_tweak_settings("cpanel.config").1.is_empty());
    }

    const WHM_API_EXAMPLE: &str = r"#### NOTICE ####
# After manually editing any configuration settings in this file,
# please run '/usr/local/cpanel/scripts/restartsrv_cpsrvd' or
# 'service cpanel restart' to fully update your server's configuration.
RS=jupiter
VFILTERDIR=/etc/vfilters
access_log=/usr/local/cpanel/logs/access_log
account_login_access=owner_root
adminuser=cpanel
allow_deprecated_accesshash=0
allow_login_autocomplete=1
allow_server_info_status_from=
allow_weak_checksums=0
allowcpsslinstall=1
allowparkhostnamedomainsubdomains=0
allowparkonothers=0
allowremotedomains=0
allowresellershostnamedomainsubdomains=0
allowunregistereddomains=1
allowwhmparkonothers=0
alwaysredirecttossl=1
apache_port=0.0.0.0:80
apache_ssl_port=0.0.0.0:443
api_shell=1
autocreateaentries=1
autodiscover_host=cpanelemaildiscovery.cpanel.net
autodiscover_mail_service=imap
autodiscover_proxy_subdomains=0
autoupdate_certificate_on_hostname_mismatch=1
awstatsbrowserupdate=0
awstatsreversedns=0
basename=cpanel
bind_deferred_restart_time=2
blockcommondomains=1
bwcycle=2
cgihidepass=1
check_zone_owner=1
check_zone_syntax=1
chkservd_check_interval=300
chkservd_hang_allowed_intervals=2
chkservd_plaintext_notify=0
cluster_autodisable_threshold=10
cluster_failure_notifications=1
conserve_memory=0
cookieipvalidation=strict
coredump=0
cpanel_locale=
cpredirect=Origin Domain Name
cpredirectssl=SSL Certificate Name
cpsrvd-domainlookup=0
create_account_dkim=1
create_account_spf=1
cycle_hours=24
database_prefix=1
debughooks=0
default_archive-logs=1
default_login_theme=cpanel
default_pkg_bwlimit=1048576
default_pkg_max_emailacct_quota=1024
default_pkg_quota=10240
default_remove-old-archived-logs=1
defaultmailaction=localuser
disable-php-as-reseller-security=0
disablequotacache=0
disk_usage_include_mailman=1
disk_usage_include_sqldbs=1
display_cpanel_doclinks=0
dnsadmin_log=0
dnsadmin_verbose_sync=0
dnsadminapp
dnslookuponconnect=0
docroot=/usr/local/cpanel/base
domainowner_mail_pass=0
dormant_services=cpdavd,cphulkd,cpsrvd,dnsadmin,spamd
dumplogs=1
email_account_quota_default_selected=userdefined
email_account_quota_userdefined_default_value=1024
email_outbound_spam_detect_action=noaction
email_outbound_spam_detect_enable=1
email_outbound_spam_detect_threshold=500
email_send_limits_count_mailman=0
email_send_limits_defer_cutoff=125
email_send_limits_max_defer_fail_percentage
email_send_limits_min_defer_fail_to_trigger_protection=5
emailarchive=0
emailpasswords=0
emailsperdaynotify
emailusers_diskusage_critical_contact_admin=1
emailusers_diskusage_critical_percent=90.0000
emailusers_diskusage_full_contact_admin=1
emailusers_diskusage_full_percent=98.0000
emailusers_diskusage_warn_contact_admin=0
emailusers_diskusage_warn_percent=80.0000
emailusers_mailbox_critical_percent=90.0000
emailusers_mailbox_full_percent=98.0000
emailusers_mailbox_warn_percent=80.0000
emailusersbandwidthexceed=0
emailusersbandwidthexceed70=0
emailusersbandwidthexceed75=0
emailusersbandwidthexceed80=1
emailusersbandwidthexceed85=0
emailusersbandwidthexceed90=0
emailusersbandwidthexceed95=0
emailusersbandwidthexceed97=0
emailusersbandwidthexceed98=0
emailusersbandwidthexceed99=0
empty_trash_days=disabled
enable_piped_logs=1
enablecompileroptimizations=0
enablefileprotect=1
engine=cpanel
enginepl=cpanel.pl
engineroot=/usr/local/cpanel
exim-retrytime=15
exim_retention_days=10
eximmailtrap=1
extracpus=0
file_upload_max_bytes
file_upload_must_leave_bytes=5
file_usage=0
ftpquotacheck_expire_time=30
ftpserver=pure-ftpd
gzip_compression_level=6
gzip_pigz_block_size=4096
gzip_pigz_processes=1
htaccess_check_recurse=2
httpd_deferred_restart_time=0
invite_sub=1
ionice_bandwidth_processing=6
ionice_cpbackup=6
ionice_dovecot_maintenance=7
ionice_email_archive_maintenance=7
ionice_ftpquotacheck=6
ionice_log_processing=7
ionice_quotacheck=6
ionice_userbackup=7
ionice_userproc=6
ipv6_control=0
ipv6_listen=0
jailapache=0
jaildefaultshell=0
jailmountbinsuid=0
jailmountusrbinsuid=0
jailprocmode=mount_proc_jailed_fallback_full
keepftplogs=0
keeplogs=0
keepstatslog=0
loadthreshold
local_nameserver_type=bind
log_successful_logins=0
logchmod=0640
logout_redirect_url=
mailbox_storage_format=maildir
mailserver=dovecot
maintenance_rpm_version_check=1
maintenance_rpm_version_digest_check=1
maxcpsrvdconnections=200
maxemailsperhour
maxmem=768
min_time_between_apache_graceful_restarts=10
minpwstrength=0
modsec_keep_hits=7
mycnf_auto_adjust_innodb_buffer_pool_size=0
mycnf_auto_adjust_maxallowedpacket=1
mycnf_auto_adjust_openfiles_limit=1
myname=cpaneld
mysql-host=localhost
mysql-version=5.5
mysqldebug=0
nobodyspam=1
nocpbackuplogs=0
nosendlangupdates=0
notify_expiring_certificates=1
numacctlist=30
overwritecustomproxysubdomains=0
overwritecustomsrvrecords=0
permit_appconfig_entries_without_acls=0
permit_appconfig_entries_without_features=0
permit_unregistered_apps_as_reseller=0
permit_unregistered_apps_as_root=0
php_max_execution_time=90
php_memory_limit=128
php_post_max_size=55
php_system_default_version=ea-php56
php_upload_max_filesize=50
phploader=
phpopenbasedirhome=0
pma_disableis=0
popbeforesmtp=0
popbeforesmtpsenders=0
postgresdebug=0
product=cPanel
proxysubdomains=1
proxysubdomainsfornewaccounts=1
proxysubdomainsoverride=1
publichtmlsubsonly=1
query_apache_for_nobody_senders=1
referrerblanksafety=0
referrersafety=0
remotewhmtimeout=35
repquota_timeout=60
requiressl=0
resetpass=1
resetpass_sub=1
root=/usr/local/cpanel
rotatelogs_size_threshhold_in_megabytes=300
roundcube_db=sqlite
rpmup_allow_kernel=0
selfsigned_generation_for_bestavailable_ssl_install=1
send_error_reports=1
send_server_configuration=1
send_server_usage=1
server_locale=en
show_reboot_banner=1
showwhmbwusageinmegs=0
signature_validation=Release and Development Keyrings
skip_chkservd_recovery_notify=0
skipanalog=0
skipapacheclientsoptimizer=0
skipawstats=0
skipboxcheck=1
skipboxtrapper=0
skipbwlimitcheck=0
skipchkservd=0
skipcpbandwd=0
skipdiskcheck=0
skipdiskusage=0
skipeximstats=0
skiphttpauth=1
skipjailmanager=0
skipmailauthoptimizer=0
skipmailman=0
skipmodseclog=0
skipnotifyacctbackupfailure=0
skipoomcheck=0
skipparentcheck=1
skiprecentauthedmailiptracker=0
skiproundcube=0
skipspamassassin=0
skipspambox=1
skipsqmail=0
skiptailwatchd=0
skipwebalizer=0
smtpmailgidonly=1
ssh_host_key_checking=0
stats_log=/usr/local/cpanel/logs/stats_log
statsloglevel=1
statthreshhold=256
system_diskusage_critical_percent=92.5500
system_diskusage_warn_percent=82.5500
tcp_check_failure_threshold=3
transfers_timeout=1800
tweak_unset_vars=
upcp_log_retention_days=45
update_log_analysis_retention_length=90
use_apache_md5_for_htaccess=1
use_information_schema=1
useauthnameservers=1
usemailformailmanurl=0
usemysqloldpass=0
userdirprotect=1
version=3.4
xframecpsrvd=0
enable_api_log=0
";
}
