//! Where Tweakgate lives on a machine when nobody says otherwise: its configuration, its state and its plugins, and
//! `tweakgate init`, which writes the embedded default configuration there with those places filled in.
//!
//! As root: `/etc/tweakgate/tweakgate.toml` and `/var/lib/tweakgate`; otherwise the XDG directories
//! (`~/.config/tweakgate/tweakgate.toml`, `~/.local/state/tweakgate`). `TWEAKGATE_CONFIG` names another file.
//! Plugins are looked for beside the `tweakgate` binary, in `plugins/` beside it, then in `/usr/lib/tweakgate/plugins`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

/// The file name of the Remote Access Key plugin as Cargo builds it.
pub const REMOTE_ACCESS_KEY_PLUGIN: &str = "libremote_access_key.so";

/// The environment variable that names the configuration file.
pub const CONFIG_ENV: &str = "TWEAKGATE_CONFIG";

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn xdg(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home().map(|h| h.join(fallback)))
}

fn is_root() -> bool {
    credentials::effective_uid() == 0
}

/// The configuration file used when `--config` is not given.
pub fn default_config_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if is_root() {
        return Ok(PathBuf::from("/etc/tweakgate/tweakgate.toml"));
    }
    xdg("XDG_CONFIG_HOME", ".config")
        .map(|d| d.join("tweakgate").join("tweakgate.toml"))
        .context("neither HOME nor XDG_CONFIG_HOME is set; pass --config")
}

/// Where a new configuration keeps its state.
pub fn default_state_dir() -> Result<PathBuf> {
    if is_root() {
        return Ok(PathBuf::from("/var/lib/tweakgate"));
    }
    xdg("XDG_STATE_HOME", ".local/state")
        .map(|d| d.join("tweakgate"))
        .context("neither HOME nor XDG_STATE_HOME is set; pass --config")
}

/// The directories searched for plugins, in order.
pub fn plugin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(dir.join("plugins"));
        dirs.push(dir);
    }
    dirs.push(PathBuf::from("/usr/lib/tweakgate/plugins"));
    dirs.push(PathBuf::from("/usr/local/lib/tweakgate/plugins"));
    dirs
}

/// A plugin file by name, from [`plugin_dirs`].
pub fn find_plugin(file_name: &str) -> Option<PathBuf> {
    plugin_dirs()
        .into_iter()
        .map(|d| d.join(file_name))
        .find(|p| p.is_file())
}

/// The embedded default configuration with its state directory and plugin made absolute. Without the plugin the
/// configuration lists none, and the panel serves without it.
pub fn default_config_text(state_dir: &Path, plugin: Option<&Path>) -> Result<String> {
    let mut doc: DocumentMut = settings::config::EMBEDDED_DEFAULT
        .parse()
        .context("the embedded default configuration is not valid TOML")?;
    let server = doc
        .get_mut("server")
        .and_then(Item::as_table_mut)
        .context("the embedded default has no [server] table")?;
    server["state_dir"] = value(state_dir.display().to_string());
    let mut plugins = ArrayOfTables::new();
    if let Some(p) = plugin {
        let mut t = Table::new();
        t["path"] = value(p.display().to_string());
        plugins.push(t);
    }
    if plugins.is_empty() {
        doc.remove("plugins");
    } else {
        doc["plugins"] = Item::ArrayOfTables(plugins);
    }
    Ok(doc.to_string())
}

/// Writes the default configuration at `path` (0600: it will hold password hashes), unless one is there.
pub fn init(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; edit it, or pass --force to replace it with the default",
            path.display()
        );
    }
    let state_dir = default_state_dir()?;
    let plugin = find_plugin(REMOTE_ACCESS_KEY_PLUGIN);
    let text = default_config_text(&state_dir, plugin.as_deref())?;
    settings::Config::parse(&text, path).context("the default configuration does not validate")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    credentials::write_atomic(path, text.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_gets_absolute_places_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join(REMOTE_ACCESS_KEY_PLUGIN);
        let text = default_config_text(&dir.path().join("state"), Some(&plugin)).unwrap();
        let config = settings::Config::parse(&text, &dir.path().join("tweakgate.toml")).unwrap();
        assert_eq!(config.server.state_dir, dir.path().join("state"));
        assert_eq!(config.plugins.len(), 1);
        assert_eq!(config.plugins[0].path, plugin);
        assert!(
            text.contains("allow_deprecated_accesshash"),
            "the comments and settings stay: {text}"
        );

        let text = default_config_text(&dir.path().join("state"), None).unwrap();
        let config = settings::Config::parse(&text, &dir.path().join("tweakgate.toml")).unwrap();
        assert!(config.plugins.is_empty(), "no plugin found, none configured");
    }

    #[test]
    fn init_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/tweakgate.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "# mine\n").unwrap();
        let err = init(&path, false).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
    }
}
