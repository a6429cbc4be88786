//! The one cast every test knows, and the builder that adds settings, plugins, native files and users to it.
//!
//! - `root`;
//! - `bob`, a reseller with `manage-api-tokens`, `list-accts` and `create-user-session`;
//! - `carol`, a reseller with `all` and `create-user-session`;
//! - `erin`, a reseller with `list-accts` only;
//! - `frank`, a reseller with no privilege at all;
//! - `dave`, a cPanel account owned by `bob`.
//!
//! The standard server allows deprecated access keys and the API Shell, and loads the Remote Access Key plugin, the
//! API Shell plugin, the Server Information plugin (`status`) and the `hello` fixture plugin (a function and a page
//! that need nothing).

use std::fmt::Write as _;

/// The resellers of the cast and their privileges.
pub const RESELLERS: &[(&str, &[&str])] = &[
    ("bob", &["manage-api-tokens", "list-accts", "create-user-session"]),
    ("carol", &["all", "create-user-session"]),
    ("erin", &["list-accts"]),
    ("frank", &[]),
];

/// Every user of the cast with WHM access, root first.
pub const WHM_USERS: &[&str] = &["root", "bob", "carol", "erin", "frank"];

/// A plugin the server loads: a workspace package built as a cdylib, with extra `[[plugins]]` keys.
#[derive(Debug, Clone)]
struct PluginLine {
    package: String,
    extra: String,
}

/// A configuration for a test panel: the cast, plus whatever a test adds.
#[derive(Debug, Clone)]
pub struct Cast {
    server: Vec<String>,
    settings: Vec<(String, String)>,
    resellers: Vec<(String, Vec<String>)>,
    accounts: Vec<(String, String)>,
    plugins: Vec<PluginLine>,
    /// `cpanel.config`'s text: the server then reads its Tweak Settings from that native file.
    native_cpanel_config: Option<String>,
    /// Root's password hash (`[root] password_hash`).
    root_password_hash: Option<String>,
    /// Resellers' homes when not under the state directory (`home` in their table).
    reseller_homes: Vec<(String, String)>,
    /// Resellers' and accounts' password hashes (`password_hash` in their table).
    reseller_password_hashes: Vec<(String, String)>,
    /// More lines of an account's table (`domain`, `plan`, `contact_email`, `suspended`).
    account_details: Vec<(String, String)>,
    /// A real server's tree (`[sources] whm_root`): users, settings and credentials then come from its files.
    whm_root: Option<String>,
    extra: String,
}

impl Cast {
    /// The standard cast and server.
    pub fn standard() -> Cast {
        Cast {
            server: vec![
                "listen = [\"127.0.0.1:0\"]".into(),
                "state_dir = \"state\"".into(),
                "auth_failure_limit = 1000".into(),
            ],
            settings: vec![
                ("allow_deprecated_accesshash".into(), "true".into()),
                ("api_shell".into(), "true".into()),
            ],
            resellers: RESELLERS
                .iter()
                .map(|(n, p)| ((*n).to_owned(), p.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
            accounts: vec![("dave".into(), "bob".into())],
            plugins: ["remote-access-key", "api-shell", "server-info", "fixture-hello"]
                .iter()
                .map(|p| PluginLine {
                    package: (*p).to_owned(),
                    extra: String::new(),
                })
                .collect(),
            native_cpanel_config: None,
            root_password_hash: None,
            reseller_password_hashes: Vec::new(),
            reseller_homes: Vec::new(),
            account_details: Vec::new(),
            whm_root: None,
            extra: String::new(),
        }
    }

    /// A real WHM server's files as the only source (`[sources] whm_root`): the cast's settings, users and
    /// passwords are left out of the config, since the tree has its own.
    pub fn whm_root(mut self, root: &std::path::Path) -> Cast {
        self.whm_root = Some(root.display().to_string());
        self
    }

    /// More lines of an account's table, e.g. `domain = "dave.example"`.
    pub fn account_detail(mut self, name: &str, lines: &str) -> Cast {
        self.account_details.push((name.into(), lines.into()));
        self
    }

    /// A Tweak Setting in the TOML config, as TOML (`"true"`, `"42"`, `"\"text\""`).
    pub fn setting(mut self, key: &str, toml_value: &str) -> Cast {
        self.settings.retain(|(k, _)| k != key);
        self.settings.push((key.into(), toml_value.into()));
        self
    }

    /// A line of the `[server]` section, e.g. `auth_failure_limit = 5` (replacing one with the same key).
    pub fn server(mut self, line: &str) -> Cast {
        let key = |l: &str| l.split('=').next().unwrap_or("").trim().to_owned();
        self.server.retain(|l| key(l) != key(line));
        self.server.push(line.into());
        self
    }

    /// Root's password, hashed as `tweakgate passwd` hashes it.
    pub fn root_password(mut self, password: &str) -> Cast {
        self.root_password_hash = Some(::panel::auth::header::hash_password(password).expect("hashing a password"));
        self
    }

    /// A reseller's home folder (where its `.accesshash` lives), elsewhere than `<state>/home/<name>`.
    pub fn reseller_home(mut self, name: &str, home: &std::path::Path) -> Cast {
        self.reseller_homes.retain(|(n, _)| n != name);
        self.reseller_homes.push((name.into(), home.display().to_string()));
        self
    }

    /// A cPanel account's password (WHM refuses it however right it is).
    pub fn account_password(mut self, name: &str, password: &str) -> Cast {
        let hash = ::panel::auth::header::hash_password(password).expect("hashing a password");
        self.reseller_password_hashes.retain(|(n, _)| n != name);
        self.reseller_password_hashes.push((name.into(), hash));
        self
    }

    /// A reseller's password, hashed as `tweakgate passwd` hashes it.
    pub fn reseller_password(mut self, name: &str, password: &str) -> Cast {
        let hash = ::panel::auth::header::hash_password(password).expect("hashing a password");
        self.reseller_password_hashes.retain(|(n, _)| n != name);
        self.reseller_password_hashes.push((name.into(), hash));
        self
    }

    /// Another reseller, or new privileges for one of the cast.
    pub fn reseller(mut self, name: &str, privileges: &[&str]) -> Cast {
        self.resellers.retain(|(n, _)| n != name);
        self.resellers
            .push((name.into(), privileges.iter().map(|s| (*s).to_owned()).collect()));
        self
    }

    /// Another cPanel account.
    pub fn account(mut self, name: &str, owner: &str) -> Cast {
        self.accounts.push((name.into(), owner.into()));
        self
    }

    /// No plugin at all.
    pub fn without_plugins(mut self) -> Cast {
        self.plugins.clear();
        self
    }

    /// One more plugin package, with extra `[[plugins]]` lines (e.g. `call_timeout_ms = 300`).
    pub fn plugin(mut self, package: &str, extra: &str) -> Cast {
        self.plugins.retain(|p| p.package != package);
        self.plugins.push(PluginLine {
            package: package.into(),
            extra: extra.into(),
        });
        self
    }

    /// Tweak Settings from a native `cpanel.config` with this text (the TOML then sets none).
    pub fn native_cpanel_config(mut self, text: &str) -> Cast {
        self.native_cpanel_config = Some(text.into());
        self
    }

    /// Raw TOML appended at the end.
    pub fn extra(mut self, toml: &str) -> Cast {
        self.extra.push_str(toml);
        self
    }

    /// The native `cpanel.config` text, when the cast has one.
    pub fn native_text(&self) -> Option<&str> {
        self.native_cpanel_config.as_deref()
    }

    /// The config file's text, with the plugins built and their paths filled in.
    pub fn toml(&self) -> String {
        let mut t = String::from("[server]\n");
        for line in &self.server {
            let _ = writeln!(t, "{line}");
        }
        if let Some(root) = &self.whm_root {
            let _ = write!(t, "\n[sources]\nwhm_root = {root:?}\n");
        } else if self.native_cpanel_config.is_some() {
            t.push_str("\n[sources]\ncpanel_config = \"cpanel.config\"\n");
        } else {
            t.push_str("\n[tweak_settings]\n");
            for (k, v) in &self.settings {
                let _ = writeln!(t, "{k} = {v}");
            }
        }
        if self.whm_root.is_some() {
            self.plugins_toml(&mut t);
            return t;
        }
        if let Some(hash) = &self.root_password_hash {
            let _ = write!(t, "\n[root]\npassword_hash = {hash:?}\n");
        }
        for (name, privileges) in &self.resellers {
            let list: Vec<String> = privileges.iter().map(|p| format!("{p:?}")).collect();
            let _ = write!(t, "\n[resellers.{name}]\nprivileges = [{}]\n", list.join(", "));
            if let Some((_, home)) = self.reseller_homes.iter().find(|(n, _)| n == name) {
                let _ = writeln!(t, "home = {home:?}");
            }
            if let Some((_, hash)) = self.reseller_password_hashes.iter().find(|(n, _)| n == name) {
                let _ = writeln!(t, "password_hash = {hash:?}");
            }
        }
        for (name, owner) in &self.accounts {
            let _ = write!(t, "\n[accounts.{name}]\nowner = \"{owner}\"\n");
            for (_, lines) in self.account_details.iter().filter(|(n, _)| n == name) {
                let _ = writeln!(t, "{lines}");
            }
            if let Some((_, hash)) = self.reseller_password_hashes.iter().find(|(n, _)| n == name) {
                let _ = writeln!(t, "password_hash = {hash:?}");
            }
        }
        self.plugins_toml(&mut t);
        t
    }

    /// The `[[plugins]]` tables (the plugins built) and the raw TOML added at the end.
    fn plugins_toml(&self, t: &mut String) {
        if self.plugins.iter().any(|p| p.extra.contains("isolation")) {
            crate::isolated_workers();
        }
        for p in &self.plugins {
            let path = crate::build_cdylib(&p.package);
            let _ = write!(
                t,
                "\n[[plugins]]\npath = {:?}\n{}\n",
                path.display().to_string(),
                p.extra
            );
        }
        t.push_str(&self.extra);
    }
}
