//! Writing changes back to the file they came from: the TOML config (comments kept) or cPanel's native files.
//!
//! The only way to write is through a [`Writer`], and the only way to get one is to take both locks: the process's
//! own (one writer thread at a time) and the `flock` on `<state>/config.lock` (one writer process at a time). So no
//! writer can forget a lock, and none can write without them.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use settings::native::{CpanelConfig, ResellersFile};
use settings::schema::SettingDef;
use settings::{AclSet, Config, Username};
use toml_edit::{DocumentMut, Item, Table, value};

/// An exclusive advisory lock (`flock`) on `<state>/config.lock`, held by every writer of the config and the native
/// files it names (the server's pages and API, `tweakgate passwd`), so that one process's read-modify-write never
/// overwrites another's. The files themselves are replaced by rename, so the lock lives beside them, not on them.
#[derive(Debug)]
pub struct ConfigLock {
    _file: std::fs::File,
}

/// Waits for the config lock; released when the guard drops.
fn lock(config: &Config) -> Result<ConfigLock> {
    let dir = &config.server.state_dir;
    crate::fsx::create_private_dir(dir)?;
    let path = dir.join("config.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(ConfigLock { _file: file })
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777)
}

fn write(path: &Path, text: &str) -> Result<()> {
    credentials::write_atomic(path, text.as_bytes(), mode_of(path))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn edit_toml(path: &Path, change: impl FnOnce(&mut DocumentMut) -> Result<()>) -> Result<()> {
    let text = read_text(path)?;
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    change(&mut doc)?;
    let new = doc.to_string();
    let parsed = Config::parse(&new, path).map_err(|e| anyhow!("the change would make the config invalid: {e}"))?;
    // A config holding a password hash is readable by its owner only, whoever writes it next.
    let holds_hash = parsed
        .users
        .all()
        .any(|(user, _)| parsed.users.password_hash(&user).is_some());
    let mode = if holds_hash {
        mode_of(path) & !0o077
    } else {
        mode_of(path)
    };
    credentials::write_atomic(path, new.as_bytes(), mode).with_context(|| format!("cannot write {}", path.display()))
}

fn table<'a>(doc: &'a mut DocumentMut, key: &str) -> Result<&'a mut Table> {
    let item = doc
        .as_table_mut()
        .entry(key)
        .or_insert_with(|| Item::Table(Table::new()));
    item.as_table_mut().ok_or_else(|| anyhow!("\"{key}\" is not a table"))
}

/// The right to write the config and its native files: both locks, held until it drops.
#[derive(Debug)]
pub struct Writer<'a> {
    config: std::sync::Arc<Config>,
    _flock: ConfigLock,
    _guard: std::sync::MutexGuard<'a, ()>,
}

impl<'a> Writer<'a> {
    /// Takes the process's lock, then the config lock (waiting for another process that holds it), for the config
    /// that `current` gives once both are held: another writer may have changed the files in the meantime.
    pub fn lock(
        in_process: &'a std::sync::Mutex<()>,
        current: impl Fn() -> std::sync::Arc<Config>,
    ) -> Result<Writer<'a>> {
        // A configuration read from a real server's files is never written, by anyone: no writer exists for it.
        if current().is_read_only() {
            bail!(settings::config::READ_ONLY);
        }
        let guard = in_process.lock().unwrap_or_else(|e| e.into_inner());
        let flock = lock(&current())?;
        Ok(Writer {
            config: current(),
            _flock: flock,
            _guard: guard,
        })
    }

    /// The configuration in force when both locks were taken.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets one Tweak Setting (stored form) in the file it comes from.
    pub fn set_tweak_setting(&self, def: &SettingDef, stored: Option<&str>) -> Result<()> {
        set_tweak_setting(&self.config, def, stored)
    }

    /// Sets a key that a native `cpanel.config` holds but the schema does not model.
    pub fn set_unmodelled_tweak_setting(&self, key: &str, stored: Option<&str>) -> Result<()> {
        set_unmodelled_tweak_setting(&self.config, key, stored)
    }

    /// Replaces a reseller's built-in ACLs in the file they come from.
    pub fn set_reseller_acls(&self, reseller: &Username, acls: AclSet) -> Result<()> {
        set_reseller_acls(&self.config, reseller, acls)
    }

    /// Sets a user's password hash in the TOML config.
    pub fn set_password_hash(&self, user: &Username, hash: &str) -> Result<()> {
        set_password_hash(&self.config, user, hash)
    }

    /// Writes a saved ACL list (`<state>/acllists/<name>`, 0600), replacing it atomically.
    pub fn write_acl_list(&self, path: &Path, text: &str) -> Result<()> {
        credentials::write_atomic(path, text.as_bytes(), 0o600)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

fn set_tweak_setting(config: &Config, def: &SettingDef, stored: Option<&str>) -> Result<()> {
    def.check_stored(stored).map_err(|e| anyhow!("{}: {e}", def.key))?;
    if let Some(path) = &config.sources.cpanel_config {
        let mut doc = CpanelConfig::parse(&read_text(path)?);
        doc.set(def.key, stored)?;
        return write(path, &doc.render());
    }
    edit_toml(&config.file, |doc| {
        let t = table(doc, "tweak_settings")?;
        match def.toml_from_stored(stored).map_err(|e| anyhow!(e))? {
            Some(v) => t[def.key] = value(v),
            None => {
                t.remove(def.key);
            }
        }
        Ok(())
    })
}

/// Sets a key that a native `cpanel.config` holds but the schema does not model, kept verbatim as WHM keeps it.
fn set_unmodelled_tweak_setting(config: &Config, key: &str, stored: Option<&str>) -> Result<()> {
    let Some(path) = &config.sources.cpanel_config else {
        bail!("{key} is not a Tweak Setting this server models");
    };
    let mut doc = CpanelConfig::parse(&read_text(path)?);
    doc.set(key, stored)?;
    write(path, &doc.render())
}

/// Replaces a reseller's built-in ACLs in the file they come from; third-party ACLs are kept.
fn set_reseller_acls(config: &Config, reseller: &Username, acls: AclSet) -> Result<()> {
    if let Some(path) = &config.sources.resellers {
        let mut resellers = ResellersFile::parse(&read_text(path)?, &path.display().to_string())?.to_resellers();
        let r = resellers
            .get_mut(reseller)
            .ok_or_else(|| anyhow!("{reseller} is not a reseller"))?;
        r.privileges = acls;
        return write(path, &ResellersFile::from_resellers(resellers.values()).render());
    }
    edit_toml(&config.file, |doc| {
        let resellers = table(doc, "resellers")?;
        let r = resellers
            .get_mut(reseller.as_str())
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| anyhow!("{reseller} is not a reseller"))?;
        let mut list = toml_edit::Array::new();
        for a in acls.iter() {
            list.push(a.name());
        }
        r.insert("privileges", value(list));
        Ok(())
    })
}

/// Sets a user's password hash in the TOML config (`[root]`, `[resellers.<u>]` or `[accounts.<u>]`).
fn set_password_hash(config: &Config, user: &Username, hash: &str) -> Result<()> {
    let section = match config.users.kind(user) {
        Some(settings::UserKind::Root) => None,
        Some(settings::UserKind::Reseller) => Some("resellers"),
        Some(settings::UserKind::Account) => Some("accounts"),
        None => bail!("\"{user}\" is not a user in {}", config.file.display()),
    };
    if section == Some("resellers") && config.sources.resellers.is_some() {
        bail!(
            "{user} comes from the native resellers file, which holds no passwords; log in with a session from `tweakgate session --user {user}`"
        );
    }
    edit_toml(&config.file, |doc| {
        let t = match section {
            None => table(doc, "root")?,
            Some(s) => table(doc, s)?
                .get_mut(user.as_str())
                .and_then(Item::as_table_mut)
                .ok_or_else(|| anyhow!("{s}.{user} is not a table"))?,
        };
        t["password_hash"] = value(hash);
        Ok(())
    })
}
