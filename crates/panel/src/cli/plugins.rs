//! `plugins list`: each configured plugin as this process loads it and as the running server reports it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use plugin_host::PluginHost;

use super::load;

/// `plugins list`: state, ABI version, features, failure and digest of each `[[plugins]]` entry.
pub(crate) fn list(config_path: &Path, json: bool) -> Result<ExitCode> {
    let config = load(config_path)?;
    let plugins = PluginHost::load_checked(&config.plugins, &crate::plugin_set::check_feature);
    if config.plugins.is_empty() && !json {
        println!("no plugins configured");
    }
    let server = crate::plugin_set::running_server(&config.server.state_dir);
    for r in plugins.reports() {
        // Loading hashes only pinned files; the listing gives every readable file's digest, ready to pin.
        let digest = r.sha256.clone().or_else(|| plugin_host::sha256_of(&r.path));
        let stale = server.as_ref().filter(|s| s.changed_on_disk.contains(&r.path));
        let faulted = server
            .as_ref()
            .and_then(|s| s.faulted.iter().find(|(p, _)| *p == r.path).map(|(_, d)| (s.pid, d)));
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "server_restart_needed": stale.is_some(),
                    "path": r.path.display().to_string(),
                    "name": r.name,
                    "version": r.version,
                    "loaded": r.is_loaded(),
                    "faulted": r.is_faulted(),
                    "error": r.failure(),
                    "abi_version": r.abi_version,
                    "features": r.features,
                    "sha256": digest,
                    "server_faulted": faulted.map(|(_, d)| d),
                })
            );
        } else {
            match &digest {
                Some(digest) => println!("{r}; sha256 {digest}"),
                None => println!("{r}"),
            }
            if let Some(s) = stale {
                println!(
                    "  the running server (pid {}) loaded an older version of this file and keeps serving it \
                     until it restarts",
                    s.pid
                );
            }
            if let Some((pid, detail)) = faulted {
                println!(
                    "  faulted in the running server (pid {pid}): {detail}; its features are hidden there until \
                     it is loaded again (see docs/plugins.md)"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
