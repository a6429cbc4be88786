//! `cluster status`: each Configuration Cluster member as the state directory records it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::load;

/// `cluster status`: reads the members from the state directory and prints them.
pub(crate) fn status(config_path: &Path, json: bool) -> Result<ExitCode> {
    let config = load(config_path)?;
    let cluster = crate::cluster::Cluster::open(&config.server.state_dir.join("cluster"), None)?;
    print!("{}", cluster_status(&cluster.list(), json)?);
    Ok(ExitCode::SUCCESS)
}

/// `cluster status`: one line (or JSON object) per member.
pub fn cluster_status(members: &[crate::cluster::MemberView], json: bool) -> Result<String> {
    let mut out = String::new();
    if json {
        for m in members {
            out.push_str(&serde_json::to_string(m)?);
            out.push('\n');
        }
        return Ok(out);
    }
    if members.is_empty() {
        out.push_str("no configuration cluster members\n");
    }
    for m in members {
        let s = &m.state;
        out.push_str(&format!(
            "{} user {} ({:?} {}): {}, {} waiting, lag {:.1} s, last push {}, last error {}\n",
            m.url,
            m.user,
            m.credential_type,
            m.signature,
            s.status,
            s.changes_waiting,
            s.lag_seconds,
            s.last_success
                .map_or_else(|| "never".to_owned(), |t| format!("at Unix time {t}")),
            s.last_error.as_deref().unwrap_or("none"),
        ));
    }
    Ok(out)
}
