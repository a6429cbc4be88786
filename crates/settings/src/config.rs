//! The TOML configuration (`config/tweakgate.toml`): parsed into raw serde structs, then validated into typed values.
//!
//! Every error names the file, line, column and key path, and suggests the nearest valid name for a misspelling.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use toml::Spanned;

use crate::acl::{Acl, AclSet};
use crate::native::{CpanelConfig, NativeError, NativeWarning, ResellersFile};
use crate::schema;
use crate::suggest::did_you_mean;
use crate::tweak::TweakSettings;
use crate::username::Username;
use crate::users::{Account, Reseller, Root, Users};

/// The configuration Tweakgate ships with and `serve` runs when no `--config` is given.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../config/tweakgate.toml");

/// A configuration error an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{file}:{line}:{column}: {key}{message}", key = key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    #[error(transparent)]
    Native(#[from] NativeError),
}

/// How long a user dropped by an edit keeps their credentials by default: a quarter of an hour.
pub const DEFAULT_REMOVED_USER_GRACE_SECS: u64 = 15 * 60;

/// The `[server]` section: where and how the panel serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Plain HTTP listeners (WHM's 2086).
    pub listen: Vec<SocketAddr>,
    /// HTTPS listeners (WHM's 2087).
    pub tls_listen: Vec<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Homes, API tokens, sessions and the audit log live here.
    pub state_dir: PathBuf,
    /// Failed authentications from one address before it is throttled with 429.
    pub auth_failure_limit: u32,
    /// The window, in seconds, over which failures are counted.
    pub auth_failure_window_secs: u64,
    /// How long, in seconds, a user dropped by an edit of the files keeps their access key and API tokens before they
    /// are retired (`removed_user_grace_secs`), so a save in progress or a mistaken edit undone in time loses nothing;
    /// an administrator's `systemctl reload` retires them at once.
    pub removed_user_grace_secs: u64,
    /// Addresses besides loopback that may read `/metrics`.
    pub metrics_allow: Vec<std::net::IpAddr>,
}

/// The `[sources]` section: cPanel's own files to read instead of inline tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub cpanel_config: Option<PathBuf>,
    pub resellers: Option<PathBuf>,
    /// The root of a real cPanel & WHM server's files (`/` on the server): read-only, every fact from there.
    pub whm_root: Option<PathBuf>,
}

/// One `[[plugins]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEntry {
    pub path: PathBuf,
    /// Lowercase hex SHA-256 the file must match before it is loaded.
    pub sha256: Option<String>,
    /// How long one call (a page or an API function) may take before the client is answered 503 (`call_timeout_ms`;
    /// `None`: the panel's default).
    pub call_timeout_ms: Option<u64>,
    /// Where the plugin's code runs (`isolation`): in the server's process (the default) or in a worker process of
    /// its own.
    pub isolation: Isolation,
    /// The user the worker process runs as (`user`; only with `isolation = "process"`, and only a server running as
    /// root can switch user). `None`: the server's own user.
    pub user: Option<String>,
}

/// Where a plugin's code runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Loaded into the server's process: the fastest call, for trusted plugins. A crash there is the server's crash.
    #[default]
    InProcess,
    /// Loaded into a worker process of its own (`tweakgate plugin-worker`), called over a socket: a crash, an abort or
    /// a hang there faults the plugin, which is restarted after a back-off, and never takes the server down.
    Process,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it came from (for messages and for resolving relative paths).
    pub file: PathBuf,
    pub server: ServerConfig,
    pub sources: Sources,
    pub tweak_settings: TweakSettings,
    /// Values of the native `cpanel.config` that the schema rejects, each kept as written with its fallback in force.
    /// The TOML config has none: a bad value there is an error.
    pub warnings: Vec<NativeWarning>,
    pub users: Users,
    pub plugins: Vec<PluginEntry>,
    /// The server tree `sources.whm_root` names, as read when this config was loaded; the config is then read-only.
    pub whm: Option<std::sync::Arc<crate::server::ServerTree>>,
}

/// What every writing operation answers on a configuration read from a real server's files.
pub const READ_ONLY: &str = "The server's files are read-only here: Tweakgate reads this cPanel & WHM server (sources.whm_root) and never changes it; make the change in WHM itself.";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    sources: RawSources,
    tweak_settings: Option<Spanned<TweakSection>>,
    #[serde(default)]
    root: RawUser,
    #[serde(default)]
    resellers: Option<Spanned<BTreeMap<Username, RawReseller>>>,
    #[serde(default)]
    accounts: BTreeMap<Username, RawAccount>,
    #[serde(default)]
    plugins: Vec<RawPlugin>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Vec<SocketAddr>>,
    tls_listen: Option<Vec<SocketAddr>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    auth_failure_limit: Option<u32>,
    auth_failure_window_secs: Option<u64>,
    removed_user_grace_secs: Option<u64>,
    metrics_allow: Option<Vec<std::net::IpAddr>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSources {
    cpanel_config: Option<PathBuf>,
    resellers: Option<PathBuf>,
    whm_root: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawUser {
    home: Option<PathBuf>,
    password_hash: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReseller {
    #[serde(default)]
    privileges: Vec<Acl>,
    home: Option<PathBuf>,
    password_hash: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    owner: Spanned<Username>,
    home: Option<PathBuf>,
    password_hash: Option<String>,
    domain: Option<String>,
    plan: Option<String>,
    contact_email: Option<String>,
    /// `true`, or the reason WHM shows.
    suspended: Option<RawSuspended>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSuspended {
    Flag(bool),
    Reason(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    path: PathBuf,
    sha256: Option<Sha256Pin>,
    call_timeout_ms: Option<std::num::NonZeroU64>,
    #[serde(default)]
    isolation: Isolation,
    user: Option<Spanned<Username>>,
}

struct Sha256Pin(String);

impl<'de> Deserialize<'de> for Sha256Pin {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Sha256Pin(s.to_ascii_lowercase()))
        } else {
            Err(de::Error::custom(
                "expected 64 hexadecimal characters (the file's SHA-256)",
            ))
        }
    }
}

/// `[tweak_settings]`: each key checked against the schema as it is read, so errors carry the value's position.
struct TweakSection(TweakSettings);

impl<'de> Deserialize<'de> for TweakSection {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TweakVisitor)
    }
}

struct TweakVisitor;

impl<'de> Visitor<'de> for TweakVisitor {
    type Value = TweakSection;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a table of Tweak Settings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TweakSection, A::Error> {
        let mut settings = TweakSettings::defaults();
        while let Some(def) = map.next_key_seed(SettingKeySeed)? {
            let stored = map.next_value_seed(SettingValueSeed(def))?;
            settings.set_stored(def.key, stored).map_err(de::Error::custom)?;
        }
        Ok(TweakSection(settings))
    }
}

struct SettingKeySeed;

impl<'de> DeserializeSeed<'de> for SettingKeySeed {
    type Value = &'static schema::SettingDef;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let key = String::deserialize(d)?;
        schema::setting(&key).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown Tweak Setting \"{}\"{}",
                key.escape_debug(),
                did_you_mean(&key, schema::keys())
            ))
        })
    }
}

struct SettingValueSeed(&'static schema::SettingDef);

impl<'de> DeserializeSeed<'de> for SettingValueSeed {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let value = toml::Value::deserialize(d)?;
        self.0.stored_from_toml(&value).map_err(de::Error::custom)
    }
}

/// Why `root` may not be listed as a reseller, in a config or a native resellers file.
pub use crate::users::ROOT_IS_NOT_A_RESELLER;

const TOP_LEVEL: &[&str] = &[
    "server",
    "sources",
    "tweak_settings",
    "root",
    "resellers",
    "accounts",
    "plugins",
];

impl Config {
    /// Reads and validates a config file, and the native files its `[sources]` name.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = read_capped(path)?;
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            message: format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        })?;
        Config::parse(&text, path)
    }

    /// Validates config text as if it were read from `file`; relative paths are resolved against its directory.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let name = file.display().to_string();
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

        let deserializer = toml::Deserializer::parse(text).map_err(|e| toml_error(&name, text, None, &e))?;
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = key_path(e.path());
            toml_error(&name, text, Some(path), e.inner())
        })?;
        let invalid = |span: std::ops::Range<usize>, key: &str, message: String| {
            let (line, column) = line_col(text, span.start);
            ConfigError::Invalid {
                file: name.clone(),
                line,
                column,
                key: Some(key.to_owned()),
                message,
            }
        };

        let listen_given = raw.server.listen.is_some();
        let server = ServerConfig {
            listen: raw
                .server
                .listen
                .unwrap_or_else(|| vec![SocketAddr::from(([127, 0, 0, 1], 2086))]),
            tls_listen: raw.server.tls_listen.unwrap_or_default(),
            tls_cert: raw.server.tls_cert.map(resolve),
            tls_key: raw.server.tls_key.map(resolve),
            state_dir: resolve(raw.server.state_dir.unwrap_or_else(|| PathBuf::from("var"))),
            auth_failure_limit: raw.server.auth_failure_limit.unwrap_or(10),
            auth_failure_window_secs: raw.server.auth_failure_window_secs.unwrap_or(300),
            removed_user_grace_secs: raw
                .server
                .removed_user_grace_secs
                .unwrap_or(DEFAULT_REMOVED_USER_GRACE_SECS),
            metrics_allow: raw.server.metrics_allow.unwrap_or_default(),
        };
        let whm_span = raw.sources.whm_root.as_ref().map(Spanned::span);
        let sources = Sources {
            cpanel_config: raw.sources.cpanel_config.map(resolve),
            resellers: raw.sources.resellers.map(resolve),
            whm_root: raw.sources.whm_root.map(|p| resolve(p.into_inner())),
        };
        let mut plugins = Vec::with_capacity(raw.plugins.len());
        for (i, p) in raw.plugins.into_iter().enumerate() {
            if let Some(user) = &p.user
                && p.isolation != Isolation::Process
            {
                return Err(invalid(
                    user.span(),
                    &format!("plugins[{i}].user"),
                    "a plugin runs as another user only in a worker process of its own; add isolation = \"process\""
                        .to_owned(),
                ));
            }
            plugins.push(PluginEntry {
                path: resolve(p.path),
                sha256: p.sha256.map(|s| s.0),
                call_timeout_ms: p.call_timeout_ms.map(std::num::NonZeroU64::get),
                isolation: p.isolation,
                user: p.user.map(|u| u.into_inner().to_string()),
            });
        }
        if let (Some(root), Some(span)) = (&sources.whm_root, whm_span) {
            let inline = raw.tweak_settings.is_some()
                || raw.resellers.as_ref().is_some_and(|r| !r.get_ref().is_empty())
                || !raw.accounts.is_empty()
                || raw.root.password_hash.is_some()
                || raw.root.home.is_some()
                || sources.cpanel_config.is_some()
                || sources.resellers.is_some();
            if inline {
                return Err(invalid(
                    span,
                    "sources.whm_root",
                    "cannot be combined with other sources, [tweak_settings], [root], [resellers] or [accounts]: \
                     every setting, user and credential comes from the server's own files"
                        .into(),
                ));
            }
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let tree = crate::server::ServerTree::read(root, now)?;
            let mut server = server;
            if !listen_given {
                // Never WHM's own ports on a WHM server.
                server.listen = vec![SocketAddr::from(([127, 0, 0, 1], 2089))];
            }
            return Ok(Config {
                file: file.to_path_buf(),
                server,
                sources,
                tweak_settings: tree.settings.clone(),
                warnings: Vec::new(),
                users: tree.users(),
                plugins,
                whm: Some(std::sync::Arc::new(tree)),
            });
        }

        let mut warnings = Vec::new();
        let tweak_settings = match (&sources.cpanel_config, raw.tweak_settings) {
            (Some(_), Some(inline)) => {
                return Err(invalid(
                    inline.span(),
                    "tweak_settings",
                    "cannot be combined with sources.cpanel_config; set the values in that file instead".into(),
                ));
            }
            (Some(path), None) => {
                let (settings, found) =
                    read_native(path, |text, file| Ok(CpanelConfig::parse(text).to_tweak_settings(file)))?;
                warnings = found;
                settings
            }
            (None, Some(inline)) => inline.into_inner().0,
            (None, None) => TweakSettings::defaults(),
        };

        let resellers = match (&sources.resellers, raw.resellers) {
            (Some(_), Some(inline)) if !inline.get_ref().is_empty() => {
                return Err(invalid(
                    inline.span(),
                    "resellers",
                    "cannot be combined with sources.resellers; list the resellers in that file instead".into(),
                ));
            }
            (Some(path), _) => read_native(path, |text, file| {
                ResellersFile::parse(text, file).map(|f| f.to_resellers())
            })?,
            (None, Some(inline)) if inline.get_ref().contains_key(&Username::root()) => {
                return Err(invalid(inline.span(), "resellers.root", ROOT_IS_NOT_A_RESELLER.into()));
            }
            (None, Some(inline)) => inline
                .into_inner()
                .into_iter()
                .map(|(name, r)| {
                    let reseller = Reseller {
                        name: name.clone(),
                        privileges: AclSet::from_acls(r.privileges),
                        additional: Default::default(),
                        home: r.home.map(&resolve),
                        password_hash: r.password_hash,
                        suspended: None,
                    };
                    (name, reseller)
                })
                .collect(),
            (None, None) => BTreeMap::new(),
        };
        let mut accounts = BTreeMap::new();
        for (user, a) in raw.accounts {
            let key = format!("accounts.{user}");
            if resellers.contains_key(&user) || user.is_root() {
                let span = a.owner.span();
                return Err(invalid(
                    span,
                    &key,
                    format!("\"{user}\" is already a reseller or root; an account cannot be both"),
                ));
            }
            let owner = a.owner.get_ref().clone();
            if !owner.is_root() && !resellers.contains_key(&owner) {
                let names = resellers
                    .keys()
                    .map(Username::as_str)
                    .chain(["root"])
                    .collect::<Vec<_>>();
                let hint = did_you_mean(owner.as_str(), names);
                return Err(invalid(
                    a.owner.span(),
                    &format!("{key}.owner"),
                    format!("owner \"{owner}\" is neither root nor a reseller{hint}"),
                ));
            }
            accounts.insert(
                user.clone(),
                Account {
                    name: user,
                    owner,
                    home: a.home.map(&resolve),
                    password_hash: a.password_hash,
                    details: crate::users::AccountDetails {
                        domain: a.domain.map(|d| d.to_ascii_lowercase()),
                        plan: a.plan,
                        contact_email: a.contact_email,
                        suspended: match a.suspended {
                            Some(RawSuspended::Flag(true)) => Some("Unknown".to_owned()),
                            Some(RawSuspended::Reason(r)) => Some(r),
                            Some(RawSuspended::Flag(false)) | None => None,
                        },
                    },
                },
            );
        }

        let users = Users {
            root: Root {
                home: raw.root.home.map(&resolve),
                password_hash: raw.root.password_hash,
            },
            resellers,
            accounts,
        };
        Ok(Config {
            file: file.to_path_buf(),
            server,
            sources,
            tweak_settings,
            warnings,
            users,
            plugins,
            whm: None,
        })
    }

    /// Whether this configuration is read from a real server's files and may not be written.
    pub fn is_read_only(&self) -> bool {
        self.whm.is_some()
    }

    /// The embedded default, as if read from `config/tweakgate.toml`.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::parse(EMBEDDED_DEFAULT, Path::new("config/tweakgate.toml"))
    }

    /// The native files this config reads, for watching.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.file.clone()];
        files.extend(self.sources.cpanel_config.iter().cloned());
        files.extend(self.sources.resellers.iter().cloned());
        if let Some(root) = &self.sources.whm_root {
            for rel in [
                "var/cpanel/cpanel.config",
                "var/cpanel/resellers",
                "etc/passwd",
                "etc/trueuserowners",
            ] {
                files.push(root.join(rel));
            }
        }
        files
    }
}

/// The largest config or native file read: a real `cpanel.config` is a few KiB, a `resellers` file of thousands of
/// resellers a few hundred; a file far past that is a mistake, and reading it whole would take the memory with it.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a whole file of at most [`MAX_FILE_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    let io = |e: std::io::Error| ConfigError::Io {
        path: path.display().to_string(),
        message: io_message(&e),
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::Io {
            path: path.display().to_string(),
            message: format!("larger than {MAX_FILE_BYTES} bytes, far more than a configuration holds; not read"),
        });
    }
    Ok(bytes)
}

fn read_native<T>(path: &Path, parse: impl FnOnce(&str, &str) -> Result<T, NativeError>) -> Result<T, ConfigError> {
    let name = path.display().to_string();
    let bytes = read_capped(path)?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Io {
        path: name.clone(),
        message: format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
    })?;
    Ok(parse(&text, &name)?)
}

fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_owned();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// A key path in TOML's own notation (`resellers.bob.privileges[0]`, `resellers."../root"`).
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__serde_spanned_private") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                if !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                    out.push_str(key);
                } else {
                    out.push_str(&format!("\"{}\"", key.escape_debug()));
                }
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn toml_error(file: &str, text: &str, path: Option<String>, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
    let mut message = e.message().trim().to_owned();
    let mut key = path.filter(|p| p != "." && !p.is_empty());
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'));
    if let Some((field, expected)) = unknown {
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let candidates = if candidates.is_empty() && key.is_none() {
            TOP_LEVEL.to_vec()
        } else {
            candidates
        };
        let hint = did_you_mean(field, candidates.iter().copied());
        key.get_or_insert_with(|| field.to_owned());
        message = format!("unknown key \"{field}\"{hint}");
    }
    ConfigError::Invalid {
        file: file.to_owned(),
        line,
        column,
        key,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("tweakgate.toml"))
    }

    #[test]
    fn embedded_default_parses() {
        let c = Config::embedded_default().unwrap();
        assert!(
            !c.plugins.is_empty(),
            "the default config loads the Remote Access Key plugin"
        );
        assert!(!c.users.resellers.is_empty());
    }

    #[test]
    fn example_from_the_issue() {
        let c = parse(
            r#"
[tweak_settings]
allow_deprecated_accesshash = true
[resellers.bob]
privileges = ["manage-api-tokens", "list-accts"]
[resellers.carol]
privileges = ["all"]
[accounts.dave]
owner = "bob"
"#,
        )
        .unwrap();
        assert!(c.tweak_settings.is_on("allow_deprecated_accesshash"));
        let bob = Username::new("bob").unwrap();
        assert!(c.users.privileges(&bob).unwrap().contains(Acl::MANAGE_API_TOKENS));
        assert_eq!(
            c.users.kind(&Username::new("dave").unwrap()),
            Some(crate::UserKind::Account)
        );
        assert!(c.tweak_settings.is_on("requiressl"), "absent settings take defaults");
    }

    /// Each kind of bad input, and the exact message an administrator sees.
    #[test]
    fn config_error_messages() {
        let cases: &[(&str, &str)] = &[
            (
                "[tweak_settings]\nallow_deprecated_accesshas = true\n",
                "tweakgate.toml:2:1: tweak_settings.allow_deprecated_accesshas: unknown Tweak Setting \"allow_deprecated_accesshas\"; did you mean \"allow_deprecated_accesshash\"?",
            ),
            (
                "[tweak_settings]\nallow_deprecated_accesshash = \"yes\"\n",
                "tweakgate.toml:2:31: tweak_settings.allow_deprecated_accesshash: expected true or false, found the string \"yes\"",
            ),
            (
                "[tweak_settings]\nallow_deprecated_accesshash = 2\n",
                "tweakgate.toml:2:31: tweak_settings.allow_deprecated_accesshash: expected true or false, found the integer 2",
            ),
            (
                "[tweak_settings]\nremotewhmtimeout = 5\n",
                "tweakgate.toml:2:20: tweak_settings.remotewhmtimeout: 5 is below the minimum of 35 seconds",
            ),
            (
                "[tweak_settings]\nmaxcpsrvdconnections = 20000\n",
                "tweakgate.toml:2:24: tweak_settings.maxcpsrvdconnections: 20000 is above the maximum of 16384",
            ),
            (
                "[tweak_settings]\ncookieipvalidation = \"relaxed\"\n",
                "tweakgate.toml:2:22: tweak_settings.cookieipvalidation: \"relaxed\" is not one of \"disabled\", \"loose\", \"strict\"",
            ),
            (
                "[tweak_settings]\nfile_upload_max_bytes = 0.5\n",
                "tweakgate.toml:2:25: tweak_settings.file_upload_max_bytes: 0.5 is below the minimum of 1 MB",
            ),
            (
                "[tweak_settings]\nloadthreshold = \"high\"\n",
                "tweakgate.toml:2:17: tweak_settings.loadthreshold: expected a number or \"undefined\", found the string \"high\"",
            ),
            (
                "[resellers.bob]\nprivileges = [\"manage-api-token\"]\n",
                "tweakgate.toml:2:14: resellers.bob.privileges[0]: unknown ACL \"manage-api-token\"; did you mean \"manage-api-tokens\"?",
            ),
            (
                "[resellers.bob]\nprivilege = []\n",
                "tweakgate.toml:2:1: resellers.bob.privilege: unknown key \"privilege\"; did you mean \"privileges\"?",
            ),
            (
                "[resellers.Bob]\n",
                "tweakgate.toml:1:12: resellers.Bob: invalid username \"Bob\": a username must start with a lowercase letter",
            ),
            (
                "[resellers.\"../root\"]\n",
                "tweakgate.toml:1:12: resellers.\"../root\": invalid username \"../root\": a username must start with a lowercase letter",
            ),
            (
                "[resellers.bob]\nprivileges = \"all\"\n",
                "tweakgate.toml:2:14: resellers.bob.privileges: invalid type: string \"all\", expected a sequence",
            ),
            (
                "[resellers.root]\nprivileges = [\"all\"]\n",
                "tweakgate.toml:1:2: resellers.root: root is not a reseller: it always holds every privilege",
            ),
            (
                "[servr]\n",
                "tweakgate.toml:1:2: servr: unknown key \"servr\"; did you mean \"server\"?",
            ),
            (
                "[server]\nlisten = [\"localhost\"]\n",
                "tweakgate.toml:2:11: server.listen[0]: invalid socket address syntax",
            ),
            (
                "[accounts.dave]\nowner = \"bobb\"\n[resellers.bob]\n",
                "tweakgate.toml:2:9: accounts.dave.owner: owner \"bobb\" is neither root nor a reseller; did you mean \"bob\"?",
            ),
            (
                "[[plugins]]\npath = \"x.so\"\nsha256 = \"abc\"\n",
                "tweakgate.toml:3:10: plugins[0].sha256: expected 64 hexadecimal characters (the file's SHA-256)",
            ),
            ("[tweak_settings\n", "tweakgate.toml:1:16: unclosed table, expected `]`"),
        ];
        let mut mismatches = Vec::new();
        for (input, want) in cases {
            let got = parse(input).map(|_| ()).unwrap_err().to_string();
            if &got != want {
                mismatches.push(format!("input:\n{input}\nwant: {want}\ngot:  {got}\n"));
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn sources_read_native_files() {
        let dir = std::env::temp_dir().join(format!("tweakgate-settings-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("cpanel.config"),
            "# banner\r\nallow_deprecated_accesshash=1\r\nfuture_key=x\r\n",
        )
        .unwrap();
        std::fs::write(dir.join("resellers"), "bob:manage-api-tokens\n").unwrap();
        let file = dir.join("tweakgate.toml");
        let c = Config::parse(
            "[sources]\ncpanel_config = \"cpanel.config\"\nresellers = \"resellers\"\n",
            &file,
        )
        .unwrap();
        assert!(c.tweak_settings.is_on("allow_deprecated_accesshash"));
        assert!(c.warnings.is_empty());
        assert!(c.users.resellers.contains_key(&Username::new("bob").unwrap()));
        // A native value the schema rejects is a warning with file and line, not an error; its fallback is in force.
        std::fs::write(
            dir.join("cpanel.config"),
            "allow_deprecated_accesshash=true\nmaxcpsrvdconnections=lots\n",
        )
        .unwrap();
        let lenient = Config::parse("[sources]\ncpanel_config = \"cpanel.config\"\n", &file).unwrap();
        let shown: Vec<String> = lenient.warnings.iter().map(ToString::to_string).collect();
        let native = dir.join("cpanel.config").display().to_string();
        assert_eq!(
            shown,
            [
                format!(
                    "{native}:1: allow_deprecated_accesshash: expected 1 or 0, found \"true\"; the value is kept as \
                     written and \"Off\" is in force"
                ),
                format!(
                    "{native}:2: maxcpsrvdconnections: expected a whole number, found \"lots\"; the value is kept as \
                     written and \"200\" is in force"
                ),
            ]
        );
        assert!(!lenient.tweak_settings.is_on("allow_deprecated_accesshash"));
        assert_eq!(lenient.tweak_settings.get("allow_deprecated_accesshash"), Some("true"));
        // The TOML config stays strict.
        assert!(
            Config::parse("[tweak_settings]\nmaxcpsrvdconnections = \"lots\"\n", &file)
                .unwrap_err()
                .to_string()
                .ends_with("tweak_settings.maxcpsrvdconnections: expected a whole number, found the string \"lots\"")
        );
        let both = Config::parse(
            "[sources]\ncpanel_config = \"cpanel.config\"\n[tweak_settings]\ncsp = true\n",
            &file,
        )
        .unwrap_err();
        assert!(
            both.to_string().ends_with(
                "tweak_settings: cannot be combined with sources.cpanel_config; set the values in that file instead"
            ),
            "{both}"
        );
        let missing = Config::parse("[sources]\nresellers = \"nope\"\n", &file).unwrap_err();
        assert_eq!(
            missing.to_string(),
            format!("{}: no such file or directory", dir.join("nope").display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
