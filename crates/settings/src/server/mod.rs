//! A real cPanel & WHM server's files as a read-only source (`[sources] whm_root`): Tweak Settings with their cache,
//! resellers, saved ACL lists, accounts from their cpuser files, `/etc/passwd` and `/etc/shadow`, access keys, WHM API
//! tokens and Configuration Cluster members, each fact with the file and line it came from.
//!
//! Nothing here writes, locks, renames or touches a file of the tree: files are opened read-only (with `O_NOATIME`
//! where allowed) and only read. What WHM would read differently, or not at all, is a [`Finding`] for `check --server`.

pub mod cluster;
pub mod text;
pub mod tokens;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::acl::{Acl, AclSet};
use crate::config::ConfigError;
use crate::native::CpanelConfig;
use crate::tweak::TweakSettings;
use crate::username::Username;
use crate::users::{Account, Reseller, Root, Users};

pub use cluster::ClusterMember;
use text::{ReadError, numbered, read_text};
pub use tokens::TreeToken;

/// How serious a finding is: an error is something WHM does differently from what the files seem to say; a warning
/// is a risk; a note is for information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

/// One thing `check --server` reports: a stable code, where, and what WHM would do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Finding {
    /// One line: the path and message quote the server's files, so their control characters are escaped (a line
    /// break or a terminal escape in a file never reaches the administrator's terminal as itself).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = Escaped(&self.path);
        let message = Escaped(&self.message);
        match self.line {
            Some(line) => write!(f, "{path}:{line}: {}: {message}", self.code),
            None => write!(f, "{path}: {}: {message}", self.code),
        }
    }
}

/// Text shown with its control characters escaped (`\n`, `\u{1b}`), everything else as it is.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ch in self.0.chars() {
            if ch.is_control() {
                write!(f, "{}", ch.escape_default())?;
            } else {
                fmt::Write::write_char(f, ch)?;
            }
        }
        Ok(())
    }
}

/// Where a fact came from: a file and, when it is one line, that line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    pub path: String,
    pub line: Option<usize>,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// Where a Tweak Setting's value came from (§9.1's reading rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingOrigin {
    /// A line of `cpanel.config`.
    File(Source),
    /// `cpanel.config.cache`, as WHM restores a key missing from the file.
    Cache(String),
    /// WHM's default.
    Default,
}

impl fmt::Display for SettingOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingOrigin::File(s) => write!(f, "{s}"),
            SettingOrigin::Cache(p) => write!(f, "{p} (missing from cpanel.config; WHM restores it from the cache)"),
            SettingOrigin::Default => f.write_str("WHM's default (not set in cpanel.config or its cache)"),
        }
    }
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// As written (`/home2/amy`), not yet placed in the tree.
    pub home: String,
    pub shell: String,
    pub line: usize,
}

/// A reseller as WHM's login reader sees it (§9.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResellerLine {
    pub name: Username,
    pub acls: AclSet,
    /// Names the catalogue does not know: third-party ACLs, held as written.
    pub additional: BTreeSet<String>,
    pub source: Source,
}

/// A cpuser file, `var/cpanel/users/<user>`, read as WHM reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpUser {
    pub path: String,
    pub fields: BTreeMap<String, String>,
    /// `DNS` then the `DNS<n>` domains, lowercased.
    pub domains: Vec<String>,
}

impl CpUser {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// `OWNER`, or `root` when absent or empty.
    pub fn owner(&self) -> &str {
        self.get("OWNER")
            .filter(|o| !o.trim().is_empty())
            .map_or("root", str::trim)
    }

    /// The main domain (`DNS`).
    pub fn domain(&self) -> Option<&str> {
        self.fields.get("DNS").map(String::as_str)
    }

    /// `PLAN`, or WHM's `undefined`.
    pub fn plan(&self) -> &str {
        self.get("PLAN").unwrap_or("undefined")
    }
}

/// An account's suspension as WHM's `listaccts` derives it (§9.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Suspension {
    pub suspended: bool,
    pub reason: String,
    pub time: i64,
    pub locked: bool,
}

/// A cPanel account of the server: its cpuser file, passwd line and suspension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeAccount {
    pub name: Username,
    pub cpuser: CpUser,
    pub passwd: PasswdEntry,
    pub suspension: Suspension,
    /// The main domain's address in `/etc/userdatadomains`, port removed.
    pub ip: Option<String>,
    pub ipv6: Vec<String>,
}

impl TreeAccount {
    pub fn owner(&self) -> &str {
        self.cpuser.owner()
    }
}

/// An `.accesshash` file found in a home (its content is read, when needed, by the credential layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeKey {
    pub user: Username,
    pub path: PathBuf,
    pub mode: u32,
    pub uid: u32,
}

/// Everything read from a server tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTree {
    pub root: PathBuf,
    pub settings: TweakSettings,
    /// Keys set in `cpanel.config` or restored from its cache, with where; absent keys are WHM's defaults.
    pub setting_origins: BTreeMap<String, SettingOrigin>,
    /// Whether `cpanel.config.cache` is current for WHM (its mtime exactly one second after the file's).
    pub cache_current: bool,
    pub dnsonly: bool,
    pub passwd: BTreeMap<String, PasswdEntry>,
    pub resellers: BTreeMap<Username, ResellerLine>,
    /// Every cPanel account, resellers' own included.
    pub accounts: BTreeMap<Username, TreeAccount>,
    pub acl_lists: BTreeMap<String, BTreeSet<String>>,
    pub tokens: Vec<TreeToken>,
    pub keys: BTreeMap<Username, TreeKey>,
    pub cluster: Vec<ClusterMember>,
    pub findings: Vec<Finding>,
}

/// What an `/etc` cache says of an account, read from its cpuser file to compare.
type CacheField = fn(&TreeAccount) -> String;

/// Names WHM never counts as accounts (§9.3).
const RESERVED: &[&str] = &[
    "root", "nobody", "all", "cpanel", "system", "virtfs", "mail", "ftp", "mysql", "named", "cpses",
];

impl ServerTree {
    /// The absolute path of a file of the tree.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// A home as written in `/etc/passwd`, placed in the tree.
    pub fn home_in_tree(&self, home: &str) -> PathBuf {
        self.root.join(home.trim_start_matches('/'))
    }

    /// Reads a server tree rooted at `root` (`/` on a real server). `now` (Unix time) decides which tokens expired.
    /// Only a missing or unreadable `etc/passwd` is an error; everything else missing means "none".
    pub fn read(root: &Path, now: u64) -> Result<ServerTree, ConfigError> {
        let mut tree = ServerTree {
            root: root.to_path_buf(),
            settings: TweakSettings::defaults(),
            setting_origins: BTreeMap::new(),
            cache_current: false,
            dnsonly: root.join("var/cpanel/dnsonly").exists(),
            passwd: BTreeMap::new(),
            resellers: BTreeMap::new(),
            accounts: BTreeMap::new(),
            acl_lists: BTreeMap::new(),
            tokens: Vec::new(),
            keys: BTreeMap::new(),
            cluster: Vec::new(),
            findings: Vec::new(),
        };
        tree.read_passwd()?;
        tree.read_settings();
        tree.read_resellers();
        tree.read_acl_lists();
        tree.read_accounts();
        tree.compare_caches();
        tree.read_keys();
        tokens::read(&mut tree, now);
        cluster::read(&mut tree);
        if !tree.dnsonly {
            tree.note(
                "FULL_WHM_ASSUMED",
                Severity::Note,
                "var/cpanel/dnsonly",
                None,
                "no DNSOnly marker: read as a full WHM server (the licence, which decides otherwise, is not in these files)",
            );
        }
        tree.findings
            .sort_by(|a, b| (&a.path, a.line, a.code).cmp(&(&b.path, b.line, b.code)));
        Ok(tree)
    }

    fn shown(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    fn note(&mut self, code: &'static str, severity: Severity, rel: &str, line: Option<usize>, message: &str) {
        let path = self.shown(rel);
        self.findings.push(Finding {
            code,
            severity,
            path,
            line,
            message: message.to_owned(),
        });
    }

    /// Reads an optional file: missing is `None`, unreadable is an `UNREADABLE` finding and `None`.
    fn optional(&mut self, rel: &str) -> Option<String> {
        match read_text(&self.path(rel)) {
            Ok(t) => Some(t),
            Err(ReadError::Missing) => None,
            Err(ReadError::Failed(m)) => {
                self.note(
                    "UNREADABLE",
                    Severity::Error,
                    rel,
                    None,
                    &format!("cannot be read: {m}"),
                );
                None
            }
        }
    }

    fn read_passwd(&mut self) -> Result<(), ConfigError> {
        let rel = "etc/passwd";
        let text = read_text(&self.path(rel)).map_err(|e| ConfigError::Io {
            path: self.shown(rel),
            message: match e {
                ReadError::Missing => "no such file: a server tree needs /etc/passwd (homes and system users)".into(),
                ReadError::Failed(m) => m,
            },
        })?;
        for (n, line) in numbered(&text) {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split(':').collect();
            let parsed = (f.len() >= 7)
                .then(|| Some((f[2].parse::<u32>().ok()?, f[3].parse::<u32>().ok()?)))
                .flatten();
            let Some((uid, gid)) = parsed else {
                self.note(
                    "MALFORMED_PASSWD_LINE",
                    Severity::Warning,
                    rel,
                    Some(n),
                    "not name:x:uid:gid:gecos:home:shell; skipped",
                );
                continue;
            };
            self.passwd.entry(f[0].to_owned()).or_insert(PasswdEntry {
                name: f[0].to_owned(),
                uid,
                gid,
                home: f[5].to_owned(),
                shell: f[6].to_owned(),
                line: n,
            });
        }
        Ok(())
    }

    /// §9.1: a key's value is the file's line, else the cache's, else the default.
    fn read_settings(&mut self) {
        let rel = "var/cpanel/cpanel.config";
        let cache_rel = "var/cpanel/cpanel.config.cache";
        let file = self.optional(rel);
        let cache_text = self.optional(cache_rel);
        let mtime = |p: PathBuf| std::fs::metadata(p).ok().map(|m| m.mtime());
        if let (Some(f), Some(c)) = (mtime(self.path(rel)), mtime(self.path(cache_rel))) {
            self.cache_current = c == f + 1;
        }
        let shown = self.shown(rel);
        let mut settings = TweakSettings::defaults();
        if let Some(text) = &file {
            let (parsed, warnings) = CpanelConfig::parse(text).to_tweak_settings(&shown);
            settings = parsed;
            for (n, line) in numbered(text) {
                let t = line.trim_start();
                if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                    continue;
                }
                let key = line.split_once('=').map_or(line, |(k, _)| k).trim();
                let source = Source {
                    path: shown.clone(),
                    line: Some(n),
                };
                self.setting_origins.insert(key.to_owned(), SettingOrigin::File(source));
            }
            for w in warnings {
                let message = format!("{}: {}", w.key, w.message);
                self.note("BAD_SETTING_VALUE", Severity::Warning, rel, Some(w.line), &message);
            }
        }
        let cache: Option<serde_json::Map<String, serde_json::Value>> = match cache_text {
            Some(t) => match serde_json::from_str::<serde_json::Value>(&t) {
                Ok(serde_json::Value::Object(m)) => Some(m),
                _ => {
                    let m = "not a JSON object; WHM rebuilds it, and nothing is taken from it here";
                    self.note("UNREADABLE", Severity::Warning, cache_rel, None, m);
                    None
                }
            },
            None => None,
        };
        let mut restored = Vec::new();
        if let Some(cache) = cache {
            let cache_shown = self.shown(cache_rel);
            for def in crate::schema::SETTINGS {
                if settings.is_explicit(def.key) {
                    continue;
                }
                let Some(v) = cache.get(def.key) else { continue };
                let value = match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
                    other => Some(other.to_string()),
                };
                if value
                    .as_deref()
                    .is_some_and(|v| crate::native::check_one_line(v).is_err())
                {
                    continue;
                }
                settings.keep_stored(def.key, value);
                self.setting_origins
                    .insert(def.key.to_owned(), SettingOrigin::Cache(cache_shown.clone()));
                restored.push(def.key);
            }
        }
        if !restored.is_empty() {
            let what = if file.is_some() {
                "missing from cpanel.config"
            } else {
                "cpanel.config is missing, so WHM uses the cache"
            };
            let message = format!(
                "{what}; taken from the cache as WHM does (\"restored from your cpanel.config.cache file\"): {}",
                restored.join(", ")
            );
            self.note("FROM_CACHE", Severity::Note, cache_rel, None, &message);
        }
        self.settings = settings;
    }

    /// §9.2: the login reader (first line starting exactly `name:`), the reseller list, and each odd line a finding.
    fn read_resellers(&mut self) {
        let rel = "var/cpanel/resellers";
        let Some(text) = self.optional(rel) else { return };
        let shown = self.shown(rel);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (n, raw) in numbered(&text) {
            let squeezed: String = raw.chars().filter(|c| !matches!(c, ' ' | '\t')).collect();
            if squeezed.is_empty() || squeezed.starts_with('#') {
                continue;
            }
            let Some((name, acls)) = squeezed.split_once(':') else {
                let m = "no \":\"; WHM skips this line";
                self.note("MALFORMED_RESELLER_LINE", Severity::Error, rel, Some(n), m);
                continue;
            };
            if name.is_empty() {
                let m = "no name before \":\"; WHM skips this line";
                self.note("MALFORMED_RESELLER_LINE", Severity::Error, rel, Some(n), m);
                continue;
            }
            if !raw.starts_with(&format!("{name}:")) {
                let m = format!(
                    "spaces before or inside the name: WHM's login reader never matches this line, so \"{}\" holds \
                     none of its privileges",
                    name.escape_debug()
                );
                self.note("MALFORMED_RESELLER_LINE", Severity::Error, rel, Some(n), &m);
                continue;
            }
            if let Some(first) = seen.get(name) {
                let m = format!("a second line for \"{name}\"; WHM's login uses the first, line {first}");
                self.note("DUPLICATE_RESELLER", Severity::Error, rel, Some(n), &m);
                continue;
            }
            seen.insert(name.to_owned(), n);
            if name == "root" {
                let m = "a root line is ignored: root always holds all";
                self.note("MALFORMED_RESELLER_LINE", Severity::Warning, rel, Some(n), m);
                continue;
            }
            let Ok(user) = Username::new(name) else {
                let m = format!("\"{}\" is not a valid user name; skipped", name.escape_debug());
                self.note("MALFORMED_RESELLER_LINE", Severity::Error, rel, Some(n), &m);
                continue;
            };
            if !self.passwd.contains_key(name) {
                let m = format!(
                    "\"{name}\" has no /etc/passwd entry: listresellers leaves it out and WHM's next rewrite of this \
                     file drops it"
                );
                self.note("RESELLER_WITHOUT_SYSTEM_USER", Severity::Error, rel, Some(n), &m);
                continue;
            }
            let mut set = AclSet::EMPTY;
            let mut additional = BTreeSet::new();
            for item in acls.split(',').filter(|a| !a.is_empty()) {
                match Acl::from_name(item) {
                    Some(a) => set.insert(a),
                    None => {
                        let m = if item.starts_with("software-") {
                            format!(
                                "\"{item}\" belongs to a licensed component; treated as enabled (which components \
                                 are disabled is not in these files)"
                            )
                        } else {
                            format!("\"{item}\" is not one of WHM's ACLs; held as a third-party ACL, as WHM does")
                        };
                        self.note("UNKNOWN_ACL", Severity::Note, rel, Some(n), &m);
                        additional.insert(item.to_owned());
                    }
                }
            }
            if set.has_all() {
                set = AclSet::from_acls([Acl::ALL]);
                additional.clear();
            }
            let source = Source {
                path: shown.clone(),
                line: Some(n),
            };
            self.resellers.insert(
                user.clone(),
                ResellerLine {
                    name: user,
                    acls: set,
                    additional,
                    source,
                },
            );
        }
    }

    fn read_acl_lists(&mut self) {
        let rel = "var/cpanel/acllists";
        let Ok(entries) = std::fs::read_dir(self.path(rel)) else {
            return;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let file_rel = format!("{rel}/{name}");
            let Some(text) = self.optional(&file_rel) else { continue };
            let granted = numbered(&text)
                .filter_map(|(_, l)| l.split_once('='))
                .filter(|(_, v)| !v.trim().is_empty() && v.trim() != "0")
                .map(|(k, _)| k.trim().to_owned())
                .collect();
            self.acl_lists.insert(name, granted);
        }
    }

    fn uid_min(&mut self) -> u32 {
        let Some(text) = self.optional("etc/login.defs") else {
            return 1000;
        };
        numbered(&text)
            .filter_map(|(_, l)| {
                let mut words = l.split_whitespace();
                (words.next() == Some("UID_MIN")).then(|| words.next()?.parse().ok())?
            })
            .last()
            .unwrap_or(1000)
    }

    /// §9.3: the cpuser files are authoritative; a name is an account by WHM's cache builder's definition.
    fn read_accounts(&mut self) {
        let dir = "var/cpanel/users";
        let Ok(entries) = std::fs::read_dir(self.path(dir)) else {
            return;
        };
        let uid_min = self.uid_min();
        let shadow = self.optional("etc/shadow").map(|t| {
            numbered(&t)
                .filter_map(|(_, l)| {
                    let mut f = l.split(':');
                    Some((f.next()?.to_owned(), f.next()?.to_owned()))
                })
                .collect::<BTreeMap<String, String>>()
        });
        if shadow.is_none() {
            let m = "not readable here (it needs root): suspension is read from each cpuser file's SUSPENDED=1 instead";
            self.note("SUSPENSION_FROM_CPUSER", Severity::Note, "etc/shadow", None, m);
        }
        let userdata = self.optional("etc/userdatadomains").unwrap_or_default();
        let mut addresses: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for (_, line) in numbered(&userdata) {
            let Some((domain, rest)) = line.split_once(": ") else {
                continue;
            };
            let f: Vec<&str> = rest.split("==").collect();
            let ip = f
                .get(5)
                .map(|ip| ip.rsplit_once(':').map_or(*ip, |(a, _)| a).to_owned());
            let v6 = f
                .get(7)
                .map(|s| {
                    s.split_whitespace()
                        .map(|i| i.split(',').next().unwrap_or("").to_owned())
                        .filter(|i| !i.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            if let Some(ip) = ip.filter(|i| !i.is_empty()) {
                addresses.insert(domain.to_ascii_lowercase(), (ip, v6));
            }
        }
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            if name == "system" {
                continue;
            }
            let rel = format!("{dir}/{name}");
            let Some(text) = self.optional(&rel) else { continue };
            let cpuser = parse_cpuser(&text, self.shown(&rel));
            let passwd = self.passwd.get(&name).cloned();
            let why_not = if Username::check(&name).is_err() {
                Some("the name is not a valid cPanel user name".to_owned())
            } else if RESERVED.contains(&name.as_str()) || name.starts_with("cptkt") {
                Some("the name is reserved".to_owned())
            } else if passwd.is_none() {
                Some("no /etc/passwd entry".to_owned())
            } else if passwd.as_ref().is_some_and(|p| p.uid < uid_min) {
                Some(format!("its UID is below UID_MIN ({uid_min})"))
            } else if text.trim().is_empty() || cpuser.domain().is_none() {
                Some("no DNS= line".to_owned())
            } else {
                None
            };
            if let Some(why) = why_not {
                let m = format!("not a cPanel account for WHM: {why}");
                self.note("NOT_AN_ACCOUNT", Severity::Warning, &rel, None, &m);
                continue;
            }
            let (Ok(user), Some(passwd)) = (Username::new(&name), passwd) else {
                continue;
            };
            if let Some(u) = cpuser.get("USER").filter(|u| *u != name) {
                let m = format!("USER={u} differs from the file name; WHM goes by the file name, \"{name}\"");
                let line = line_of(&text, "USER");
                self.note("USER_FIELD_MISMATCH", Severity::Warning, &rel, line, &m);
            }
            if Username::check(cpuser.owner()).is_err() {
                let m = format!("OWNER={} is not a valid user name", cpuser.owner().escape_debug());
                let line = line_of(&text, "OWNER");
                self.note("BAD_OWNER", Severity::Error, &rel, line, &m);
            }
            let suspension = self.suspension(&name, &cpuser, shadow.as_ref());
            let (ip, ipv6) = cpuser
                .domain()
                .and_then(|d| addresses.get(d).cloned())
                .map_or((None, Vec::new()), |(ip, v6)| (Some(ip), v6));
            self.accounts.insert(
                user.clone(),
                TreeAccount {
                    name: user,
                    cpuser,
                    passwd,
                    suspension,
                    ip,
                    ipv6,
                },
            );
        }
    }

    fn suspension(&self, name: &str, cpuser: &CpUser, shadow: Option<&BTreeMap<String, String>>) -> Suspension {
        let bwlimited = self.path(&format!("var/cpanel/bwlimited/{name}")).exists();
        let suspended = match shadow {
            Some(s) => s
                .get(name)
                .is_some_and(|h| h.starts_with('!') || h.contains("*LOCKED*")),
            None => cpuser.get("SUSPENDED").map(str::trim) == Some("1"),
        };
        if !suspended && !bwlimited {
            return Suspension {
                reason: "not suspended".into(),
                ..Default::default()
            };
        }
        let reason_path = self.path(&format!("var/cpanel/suspended/{name}"));
        let reason = if !suspended {
            "Bandwidth Limit Exceeded; Unsuspend by increasing bandwidth limit".to_owned()
        } else {
            read_text(&reason_path)
                .ok()
                .map(|t| t.trim_end().to_owned())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "Unknown".to_owned())
        };
        let time = std::fs::metadata(&reason_path)
            .ok()
            .map(|m| m.mtime())
            .or_else(|| cpuser.get("SUSPENDTIME").and_then(|t| t.trim().parse().ok()))
            .unwrap_or(0);
        Suspension {
            suspended: true,
            reason,
            time,
            locked: self.path(&format!("var/cpanel/suspended/{name}.lock")).exists(),
        }
    }

    /// §9.3: the `/etc` caches are compared with the cpuser files; every difference is `STALE_CACHE`.
    fn compare_caches(&mut self) {
        let fix = "run /usr/local/cpanel/scripts/updateuserdomains";
        let caches: [(&str, CacheField, &str); 3] = [
            ("etc/trueuserowners", |a| a.owner().to_owned(), "owner"),
            (
                "etc/domainusers",
                |a| a.cpuser.domain().unwrap_or("").to_owned(),
                "main domain",
            ),
            (
                "etc/userplans",
                |a| a.cpuser.get("PLAN").unwrap_or("default").to_owned(),
                "plan",
            ),
        ];
        for (rel, field, what) in caches {
            let Some(text) = self.optional(rel) else { continue };
            let mut listed = BTreeSet::new();
            let mut stale = Vec::new();
            for (n, line) in numbered(&text) {
                let t = line.trim_start();
                if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                    continue;
                }
                let Some((user, value)) = line.split_once(':') else {
                    continue;
                };
                let (user, value) = (user.trim(), value.trim());
                listed.insert(user.to_owned());
                let Ok(name) = Username::new(user) else { continue };
                match self.accounts.get(&name) {
                    Some(a) if field(a) != value => stale.push((
                        Some(n),
                        format!(
                            "stale cache: it says {user}'s {what} is \"{value}\", the cpuser file says \"{}\"; WHM's \
                             listaccts would list {user} under this cache; {fix}",
                            field(a)
                        ),
                    )),
                    Some(_) => {}
                    None => stale.push((
                        Some(n),
                        format!("stale cache: {user} is not a cPanel account (no valid cpuser file); {fix}"),
                    )),
                }
            }
            for name in self.accounts.keys() {
                if !listed.contains(name.as_str()) {
                    stale.push((None, format!("stale cache: the account {name} is missing; {fix}")));
                }
            }
            for (line, m) in stale {
                self.note("STALE_CACHE", Severity::Error, rel, line, &m);
            }
        }
    }

    /// §9.4: keys at `<home>/.accesshash` of root and resellers; anyone else's is reported and ignored.
    fn read_keys(&mut self) {
        let holders: Vec<(String, PasswdEntry)> = self.passwd.iter().map(|(n, p)| (n.clone(), p.clone())).collect();
        let known: BTreeSet<String> = self.accounts.keys().map(|u| u.to_string()).collect();
        for (name, p) in holders {
            let may_hold = name == "root" || Username::new(&name).is_ok_and(|u| self.resellers.contains_key(&u));
            if !may_hold && !known.contains(&name) {
                continue;
            }
            let rel = format!("{}/.accesshash", p.home.trim_start_matches('/').trim_end_matches('/'));
            let path = self.path(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !may_hold {
                let m = format!(
                    "{name} is not a reseller: WHM answers \"User {name} is not a reseller.\" and the key authenticates \
                     nothing"
                );
                self.note("KEY_OF_NON_RESELLER", Severity::Warning, &rel, None, &m);
                continue;
            }
            if !meta.file_type().is_file() {
                let m = "not a regular file (a symbolic link or other): not read as a key";
                self.note("KEY_PERMISSIONS", Severity::Error, &rel, None, m);
                continue;
            }
            let mode = meta.mode() & 0o7777;
            if mode & 0o077 != 0 {
                let m = format!("mode {mode:04o}: group or others may read it; WHM writes 0600");
                self.note("KEY_PERMISSIONS", Severity::Warning, &rel, None, &m);
            }
            if meta.uid() != p.uid {
                let m = format!(
                    "owned by uid {}, not by {name} (uid {}): not read as a key",
                    meta.uid(),
                    p.uid
                );
                self.note("KEY_PERMISSIONS", Severity::Error, &rel, None, &m);
                continue;
            }
            let Ok(user) = Username::new(&name) else { continue };
            self.keys.insert(
                user.clone(),
                TreeKey {
                    user,
                    path,
                    mode,
                    uid: meta.uid(),
                },
            );
        }
    }

    /// The ACLs WHM gives a user at login: `{all}` for root, the login line for a reseller, none otherwise.
    pub fn acls_of(&self, user: &Username) -> Option<AclSet> {
        if user.is_root() {
            return Some(AclSet::EVERYTHING);
        }
        self.resellers.get(user).map(|r| r.acls)
    }

    /// The users of this server for the gate: root, resellers (with a system user), and every other account.
    pub fn users(&self) -> Users {
        let home = |name: &str| self.passwd.get(name).map(|p| self.home_in_tree(&p.home));
        let resellers = self
            .resellers
            .values()
            .map(|r| {
                let reseller = Reseller {
                    name: r.name.clone(),
                    privileges: r.acls,
                    additional: r.additional.clone(),
                    home: home(r.name.as_str()),
                    password_hash: None,
                    suspended: self
                        .accounts
                        .get(&r.name)
                        .filter(|a| a.suspension.suspended)
                        .map(|a| a.suspension.reason.clone()),
                };
                (r.name.clone(), reseller)
            })
            .collect::<BTreeMap<_, _>>();
        let accounts = self
            .accounts
            .values()
            .filter(|a| !resellers.contains_key(&a.name))
            .map(|a| {
                let owner = Username::new(a.owner()).unwrap_or_else(|_| Username::root());
                let account = Account {
                    name: a.name.clone(),
                    owner,
                    home: home(a.name.as_str()),
                    password_hash: None,
                    details: crate::users::AccountDetails {
                        domain: a.cpuser.domain().map(str::to_owned),
                        plan: a.cpuser.get("PLAN").map(str::to_owned),
                        contact_email: a.cpuser.get("CONTACTEMAIL").map(str::to_owned),
                        suspended: a.suspension.suspended.then(|| a.suspension.reason.clone()),
                    },
                };
                (a.name.clone(), account)
            })
            .collect();
        Users {
            root: Root {
                home: home("root"),
                password_hash: None,
            },
            resellers,
            accounts,
        }
    }

    /// The token of `<user>/<name>`, if the tree has it.
    pub fn token(&self, principal: &str) -> Option<&TreeToken> {
        let (user, name) = principal.split_once('/')?;
        self.tokens.iter().find(|t| t.user.as_str() == user && t.name == name)
    }

    /// Whether the setting `key` came from the file, the cache or the default.
    pub fn setting_origin(&self, key: &str) -> SettingOrigin {
        self.setting_origins.get(key).cloned().unwrap_or(SettingOrigin::Default)
    }
}

/// The first line of a cpuser text that sets `key`.
fn line_of(text: &str, key: &str) -> Option<usize> {
    numbered(text)
        .find(|(_, l)| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
        .map(|(n, _)| n)
}

/// A cpuser file as WHM's loader reads it (§9.3).
pub fn parse_cpuser(text: &str, path: String) -> CpUser {
    let mut fields = BTreeMap::new();
    let mut extra: BTreeMap<u64, String> = BTreeMap::new();
    for (_, line) in numbered(text) {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if matches!(key, "DOMAIN" | "DOMAINS" | "DEADDOMAINS" | "DBOWNER" | "HOMEDIRLINKS") {
            continue;
        }
        if key == "DNS" {
            fields.insert(key.to_owned(), value.trim().to_ascii_lowercase());
        } else if let Some(n) = key.strip_prefix("DNS").and_then(|n| n.parse::<u64>().ok()) {
            extra.insert(n, value.trim().to_ascii_lowercase());
        } else {
            fields.insert(key.to_owned(), value.to_owned());
        }
    }
    let domains = fields
        .get("DNS")
        .cloned()
        .into_iter()
        .chain(extra.into_values())
        .collect();
    CpUser { path, fields, domains }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_quoting_a_file_escapes_its_control_characters() {
        let finding = Finding {
            code: "DUPLICATE_RESELLER",
            severity: Severity::Warning,
            path: "var/cpanel/resel\x1b[2Jlers".into(),
            line: Some(5),
            message: "a second line for \"al\npha\"; WHM's login uses the first".into(),
        };
        let shown = finding.to_string();
        assert_eq!(
            shown,
            "var/cpanel/resel\\u{1b}[2Jlers:5: DUPLICATE_RESELLER: a second line for \"al\\npha\"; WHM's login uses \
             the first"
        );
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }

    #[test]
    fn cpuser_is_read_as_whm_reads_it() {
        let u = parse_cpuser(
            "# cPanel -- header\r\n\r\nDNS=Amy.Example\r\nDNS1=shop.example\nOWNER =alpha\nPLAN=a=b\nDOMAINS=x\nnoequals",
            "amy".into(),
        );
        assert_eq!(u.domain(), Some("amy.example"));
        assert_eq!(u.domains, ["amy.example", "shop.example"]);
        assert_eq!(u.owner(), "alpha");
        assert_eq!(u.plan(), "a=b");
        assert_eq!(u.get("DOMAINS"), None);
        let bare = parse_cpuser("DNS=b.example\n", "b".into());
        assert_eq!((bare.owner(), bare.plan()), ("root", "undefined"));
    }
}
