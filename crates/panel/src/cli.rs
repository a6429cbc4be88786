//! The `tweakgate` command line: serve the panel, check and explain configurations, manage keys and sessions.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use plugin_host::PluginHost;
use serde::Deserialize;
use settings::{Config, Snapshot, Username};

use crate::state::{Panel, compile};

#[derive(Parser, Debug)]
#[command(
    name = "tweakgate",
    version,
    about = "A settings-aware feature gate and plugin host modelled on cPanel & WHM"
)]
pub struct Cli {
    /// The configuration file [default: $TWEAKGATE_CONFIG, else /etc/tweakgate/tweakgate.toml as root,
    /// else ~/.config/tweakgate/tweakgate.toml; `serve` and `init` write the embedded default there when missing]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How `serve` writes its log on standard error: `plain` or `json` (one object per line).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "plain")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The log's form on standard error.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    Plain,
    Json,
}

impl Cli {
    /// The configuration file to use; `create` writes the embedded default where none was named and none exists.
    fn config_path(&self, create: bool) -> Result<PathBuf> {
        if let Some(p) = &self.config {
            return Ok(p.clone());
        }
        let path = crate::install::default_config_path()?;
        if !path.exists() {
            if !create {
                bail!(
                    "no configuration at {}; run `tweakgate init` to write the default there, or pass --config FILE",
                    path.display()
                );
            }
            crate::install::init(&path, false)?;
            eprintln!("wrote the default configuration to {}", path.display());
        }
        Ok(path)
    }
}

mod server;

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve WHM API 1 and the panel's pages; config changes apply without a restart.
    Serve,
    /// Print a shell completion script (e.g. `tweakgate completions bash > /etc/bash_completion.d/tweakgate`).
    Completions {
        /// The shell: bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
    /// Print the manual page in roff (e.g. `tweakgate man > /usr/local/share/man/man1/tweakgate.1`).
    Man,
    /// Write the embedded default configuration (with this machine's state directory and plugin) to edit.
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate the configuration and the files it points at.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Explain whether a user sees a feature, with every reason when not.
    Explain {
        /// The user: root, a reseller or a cPanel account.
        #[arg(long)]
        user: String,
        /// The feature id (e.g. `remote-access-key`); every feature when left out.
        #[arg(long)]
        feature: Option<String>,
        /// One JSON object per feature instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every user × every feature: the table to read before changing privileges.
    Matrix {
        /// JSON instead of a text table.
        #[arg(long)]
        json: bool,
    },
    /// Check a privilege test file (user, feature, expected visibility and reasons); exit 1 on any mismatch.
    Check {
        /// A TOML file of `[[expect]]` tables: `user`, `feature`, `visible`, and optionally `reasons`.
        #[arg(required_unless_present = "server")]
        expectations: Option<PathBuf>,
        /// Report what WHM reads differently in the server files of `[sources] whm_root` (stale caches, odd reseller
        /// lines, keys and tokens of non-resellers, expired tokens, unsafe modes, …); exit 1 on a warning or error.
        #[arg(long)]
        server: bool,
        /// The findings of `--server` as JSON.
        #[arg(long, requires = "server")]
        json: bool,
    },
    /// Loaded plugins: state, ABI version, features, why one failed, and each file's SHA-256 (to pin it).
    Plugins {
        #[command(subcommand)]
        action: PluginsAction,
    },
    /// Remote Access Key: generate, show, or print the signature of a user's key.
    Accesshash {
        #[command(subcommand)]
        action: AccesshashAction,
    },
    /// Set a user's password (read from standard input, at least 8 characters) in the config.
    Passwd {
        /// Root or a reseller.
        #[arg(long)]
        user: String,
    },
    /// Print a one-time login URL for a user, valid for 5 minutes on the server that runs this config.
    Session {
        /// Root or a reseller.
        #[arg(long)]
        user: String,
    },
    /// Configuration Cluster: the member servers this one sends its Tweak Settings changes to.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Store users' access keys as full-access API tokens (`convert_accesshash_to_token`).
    ConvertAccesshashToToken {
        /// Print a line for each key imported.
        #[arg(long)]
        verbose: bool,
        /// Convert every reseller's key as well as those named.
        #[arg(long)]
        all_resellers: bool,
        /// Users whose keys to convert; root when none is named.
        users: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Parse and validate; print any error with file, line, column and key.
    Check {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterAction {
    /// Each member: its user and credential signature (never the credential), changes waiting, lag, last push and
    /// last error, read from the state directory.
    Status {
        /// One JSON object per member instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum PluginsAction {
    /// Each configured plugin: loaded, faulted or refused (and why), its ABI version and features.
    List {
        /// One JSON object per plugin instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum AccesshashAction {
    /// Generate a new key, replacing the old one (audited first); prints its signature.
    Generate {
        /// Root or a reseller.
        #[arg(long)]
        user: String,
    },
    /// Print the key in WHM's file layout.
    Show {
        /// Root or a reseller.
        #[arg(long)]
        user: String,
    },
    /// Print the key's signature, to compare with what a client holds without showing the key.
    Signature {
        /// Root or a reseller.
        #[arg(long)]
        user: String,
    },
}

/// Runs the CLI and turns the outcome into an exit code: 0 success, 1 a check failed, 2 an error.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

/// The snapshot of the config on disk, with its plugins loaded here; a plugin the running server recorded as faulted
/// is faulted here too, so `explain` and `matrix` say what the server does (`PLUGIN_FAULTED`).
fn offline_snapshot(path: &Path) -> Result<(Snapshot, Arc<PluginHost>)> {
    let config = load(path)?;
    let plugins = Arc::new(PluginHost::load_checked(
        &config.plugins,
        &crate::plugin_set::check_feature,
    ));
    if let Some(server) = crate::plugin_set::running_server(&config.server.state_dir) {
        for (path, detail) in &server.faulted {
            plugins.mark_faulted(path, detail);
        }
    }
    Ok((compile(Arc::new(config), &plugins), plugins))
}

fn user(name: &str) -> Result<Username> {
    Username::new(name).map_err(|e| anyhow!("invalid username \"{}\": {e}", name.escape_debug()))
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    use clap::CommandFactory;
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "tweakgate", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("cannot write the manual page")?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    if let Command::Init { force } = cli.command {
        let path = match &cli.config {
            Some(p) => p.clone(),
            None => crate::install::default_config_path()?,
        };
        crate::install::init(&path, force)?;
        println!("wrote {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let config_path = cli.config_path(matches!(cli.command, Command::Serve))?;
    match cli.command {
        Command::Init { .. } | Command::Completions { .. } | Command::Man => unreachable!("handled above"),
        Command::Serve => serve(&config_path, cli.log_format),
        Command::Config {
            action: ConfigAction::Check { json },
        } => {
            let (snapshot, plugins) = offline_snapshot(&config_path)?;
            let c = snapshot.config();
            let failed: Vec<_> = plugins.reports().into_iter().filter(|r| !r.is_loaded()).collect();
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "file": c.file.display().to_string(),
                        "ok": failed.is_empty(),
                        "warnings": c.warnings,
                        "resellers": c.users.resellers.len(),
                        "accounts": c.users.accounts.len(),
                        "plugins": c.plugins.len(),
                        "plugin_errors": failed.iter().map(|r| serde_json::json!({"path": r.path.display().to_string(), "error": r.failure()})).collect::<Vec<_>>(),
                    })
                );
            } else {
                println!(
                    "{}: OK ({} resellers, {} accounts, {} plugins)",
                    c.file.display(),
                    c.users.resellers.len(),
                    c.users.accounts.len(),
                    c.plugins.len()
                );
                for w in &c.warnings {
                    println!("warning: {w}");
                }
                for r in &failed {
                    println!("plugin {r}");
                }
            }
            Ok(if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Explain { user, feature, json } => {
            let (snapshot, plugins) = offline_snapshot(&config_path)?;
            let features: Vec<String> = match feature {
                Some(f) => vec![f],
                None => snapshot.features().iter().map(|f| f.id.clone()).collect(),
            };
            if let Some(f) = features.first().filter(|f| snapshot.feature_id(f).is_none()) {
                let ids: Vec<&str> = snapshot.features().iter().map(|s| s.id.as_str()).collect();
                let hint = settings::suggest::did_you_mean(f, ids.iter().copied());
                bail!(
                    "unknown feature \"{}\"{hint}; the features are: {}",
                    f.escape_debug(),
                    ids.join(", ")
                );
            }
            for f in features {
                let d = server::decide(&snapshot, &user, &f);
                let deprecation = plugins.feature_info(&f).and_then(|i| i.deprecation);
                let sources = snapshot
                    .config()
                    .whm
                    .as_deref()
                    .map(|tree| server::sources(&snapshot, tree, &user, &f));
                if json {
                    let deprecated = deprecation
                        .as_ref()
                        .map(|d| serde_json::json!({"since": d.since, "replacement": d.replacement}));
                    let mut row = serde_json::json!({"user": user, "feature": f, "visible": d.visible, "reasons": d.reasons, "deprecated": deprecated});
                    if let Some(sources) = &sources {
                        row["sources"] = serde_json::json!(sources);
                    }
                    println!("{row}");
                    continue;
                }
                if d.visible {
                    println!("{f}: visible to {user}");
                } else {
                    println!("{f}: hidden from {user}");
                    for r in &d.reasons {
                        println!("  {}: {r}", r.code());
                    }
                }
                for line in sources.iter().flatten() {
                    println!("  from {line}");
                }
                if let Some(dep) = &deprecation {
                    let instead = if dep.replacement.is_empty() {
                        String::new()
                    } else {
                        format!("; use {} instead", dep.replacement)
                    };
                    println!("  deprecated since version {}{instead}", dep.since);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Matrix { json } => {
            let (snapshot, _plugins) = offline_snapshot(&config_path)?;
            print!("{}", matrix(&snapshot, json)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            expectations,
            server: with_server,
            json,
        } => {
            let (snapshot, _plugins) = offline_snapshot(&config_path)?;
            let mut code = ExitCode::SUCCESS;
            if with_server {
                let Some(tree) = snapshot.config().whm.as_deref() else {
                    bail!(
                        "{} names no server (`[sources] whm_root = \"/\"`); check --server reads one",
                        config_path.display()
                    );
                };
                let (out, failing) = server::findings(tree, json)?;
                print!("{out}");
                if failing {
                    code = ExitCode::from(1);
                }
            }
            let Some(expectations) = expectations else {
                return Ok(code);
            };
            let text = std::fs::read_to_string(&expectations)
                .with_context(|| format!("cannot read {}", expectations.display()))?;
            let failures = check(&snapshot, &text, &expectations)?;
            for f in &failures {
                println!("{f}");
            }
            let total = toml::from_str::<Expectations>(&text).map_or(0, |e| e.expectations.len());
            if failures.is_empty() {
                println!("all {total} expectation(s) hold");
                Ok(code)
            } else {
                println!("{} expectation(s) failed", failures.len());
                Ok(ExitCode::from(1))
            }
        }
        Command::Plugins {
            action: PluginsAction::List { json },
        } => {
            let config = load(&config_path)?;
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
        Command::Accesshash { action } => {
            let panel = Panel::open(&config_path)?;
            let snapshot = panel.snapshot();
            match action {
                AccesshashAction::Generate { user: u } => {
                    let key = crate::whm::ops::keys::generate_key(&panel, &user(&u)?, "root")?;
                    println!("generated a new access key for {u}; signature {}", key.signature());
                }
                AccesshashAction::Show { user: u } => {
                    let name = user(&u)?;
                    match credentials::read_key(&panel.home_of(&snapshot, &name))? {
                        Some(key) => print!("{}", key.to_file_text()),
                        None => bail!("No accesshash exists for {u}"),
                    }
                }
                AccesshashAction::Signature { user: u } => {
                    let name = user(&u)?;
                    match credentials::read_key(&panel.home_of(&snapshot, &name))? {
                        Some(key) => println!("{}", key.signature()),
                        None => bail!("No accesshash exists for {u}"),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Passwd { user: u } => {
            let config = load(&config_path)?;
            let name = user(&u)?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.len() < 8 {
                bail!("the password must be at least 8 characters long");
            }
            let hash =
                crate::auth::header::hash_password(password).map_err(|e| anyhow!("cannot hash the password: {e}"))?;
            let config = Arc::new(config);
            let this_process = std::sync::Mutex::new(());
            crate::config_write::Writer::lock(&this_process, || Arc::clone(&config))?
                .set_password_hash(&name, &hash)?;
            println!("password set for {u} in {}", config.file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Session { user: u } => {
            let config = load(&config_path)?;
            let name = user(&u)?;
            if config.users.kind(&name).is_none() {
                bail!("\"{name}\" is not a user in {}", config.file.display());
            }
            let url = request_session(&config, &name)?;
            println!("{url}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Cluster {
            action: ClusterAction::Status { json },
        } => {
            let config = load(&config_path)?;
            let cluster = crate::cluster::Cluster::open(&config.server.state_dir.join("cluster"), None)?;
            print!("{}", cluster_status(&cluster.list(), json)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::ConvertAccesshashToToken {
            verbose,
            all_resellers,
            users,
        } => {
            let panel = Panel::open(&config_path)?;
            let snapshot = panel.snapshot();
            let mut targets: Vec<Username> = users.iter().map(|u| user(u)).collect::<Result<_>>()?;
            if all_resellers {
                targets.extend(snapshot.config().users.resellers.keys().cloned());
            }
            if targets.is_empty() {
                targets.push(Username::root());
            }
            for line in crate::whm::ops::keys::convert_accesshash_to_token(&panel, &targets, verbose)? {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Renders the privilege matrix as a table or JSON.
pub fn matrix(snapshot: &Snapshot, json: bool) -> Result<String> {
    let users: Vec<_> = snapshot.config().users.all().collect();
    let features: Vec<_> = snapshot.features().iter().filter(|f| !f.group.is_empty()).collect();
    // Visible cells come from the snapshot's bits; hidden ones are explained with reasons borrowed from the
    // snapshot, serialised straight from it.
    let feature_ids: Vec<_> = features.iter().map(|f| snapshot.feature_id(&f.id)).collect();
    let visible = |uid: Option<settings::UserId>, fid: Option<settings::FeatureId>| match (uid, fid) {
        (Some(uid), Some(fid)) => snapshot.is_visible(uid, fid),
        _ => false,
    };
    if json {
        /// A hidden cell's reasons, written as the owned `Reason`s would be.
        struct Reasons<'a>(settings::Explanation<'a>);
        impl serde::Serialize for Reasons<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.reasons())
            }
        }
        // Rows are `{"user":…,"feature":…,"visible":…,"reasons":[…]}`; each name is escaped once, not once per cell.
        let feature_parts = features
            .iter()
            .map(|f| Ok(format!(",\"feature\":{},\"visible\":", serde_json::to_string(&f.id)?)))
            .collect::<Result<Vec<String>>>()?;
        let mut out = Vec::with_capacity(users.len() * features.len() * 80);
        out.push(b'[');
        for (i, (u, _)) in users.iter().enumerate() {
            let head = format!("{{\"user\":{}", serde_json::to_string(u.as_str())?);
            let uid = snapshot.user_id(u.as_str());
            for (j, ((f, part), &fid)) in features.iter().zip(&feature_parts).zip(&feature_ids).enumerate() {
                if i + j > 0 {
                    out.extend_from_slice(b",\n");
                }
                out.extend_from_slice(head.as_bytes());
                out.extend_from_slice(part.as_bytes());
                if visible(uid, fid) {
                    out.extend_from_slice(b"true,\"reasons\":[]}");
                    continue;
                }
                let explanation = snapshot.explain(u.as_str(), &f.id);
                let shown = explanation.reasons().next().is_none();
                out.extend_from_slice(if shown { b"true" } else { b"false" });
                out.extend_from_slice(b",\"reasons\":");
                serde_json::to_writer(&mut out, &Reasons(explanation))?;
                out.push(b'}');
            }
        }
        // A real server's API tokens follow as principals `<user>/<token name>`.
        let now = server::now();
        for token in server::token_principals(snapshot) {
            let principal = token.principal();
            for f in &features {
                let d = server::decide_token(snapshot, token, &f.id, now);
                out.extend_from_slice(b",\n");
                let row =
                    serde_json::json!({"user": principal, "feature": f.id, "visible": d.visible, "reasons": d.reasons});
                serde_json::to_writer(&mut out, &row)?;
            }
        }
        out.extend_from_slice(b"]\n");
        return Ok(String::from_utf8(out)?);
    }
    let mut cells: Vec<Vec<String>> = vec![
        std::iter::once("user".to_owned())
            .chain(std::iter::once("kind".to_owned()))
            .chain(features.iter().map(|f| f.id.clone()))
            .collect(),
    ];
    for (u, kind) in &users {
        let mut row = vec![u.to_string(), format!("{kind:?}").to_lowercase()];
        let uid = snapshot.user_id(u.as_str());
        for (f, &fid) in features.iter().zip(&feature_ids) {
            row.push(if visible(uid, fid) {
                "yes".to_owned()
            } else {
                let codes: Vec<&str> = snapshot
                    .explain(u.as_str(), &f.id)
                    .reasons()
                    .map(|r| r.code())
                    .collect();
                format!("no: {}", codes.join(","))
            });
        }
        cells.push(row);
    }
    let now = server::now();
    for token in server::token_principals(snapshot) {
        let mut row = vec![token.principal(), "token".to_owned()];
        for f in &features {
            let d = server::decide_token(snapshot, token, &f.id, now);
            row.push(if d.visible {
                "yes".to_owned()
            } else {
                format!("no: {}", d.codes().join(","))
            });
        }
        cells.push(row);
    }
    let widths: Vec<usize> = (0..cells[0].len())
        .map(|i| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in cells {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectations {
    #[serde(rename = "expect")]
    expectations: Vec<Expectation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectation {
    user: String,
    feature: String,
    visible: bool,
    reasons: Option<Vec<String>>,
}

/// Checks a privilege test file: `[[expect]] user = "bob" feature = "remote-access-key" visible = false reasons = ["SETTING_DISABLED"]`.
pub fn check(snapshot: &Snapshot, text: &str, file: &Path) -> Result<Vec<String>> {
    let parsed: Expectations = toml::from_str(text).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let mut failures = Vec::new();
    // The line of each `[[expect]]` header, in order, to name a failure by where it is written.
    let headers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[expect]]")
        .map(|(n, _)| n + 1)
        .collect();
    for (i, e) in parsed.expectations.iter().enumerate() {
        let line = headers.get(i).copied().unwrap_or(0);
        let d = server::decide(snapshot, &e.user, &e.feature);
        let codes: Vec<String> = d.codes().into_iter().map(str::to_owned).collect();
        let mut problems = Vec::new();
        if d.visible != e.visible {
            let reasons = d
                .reasons
                .iter()
                .map(|r| format!("{}: {r}", r.code()))
                .collect::<Vec<_>>()
                .join("; ");
            problems.push(format!(
                "expected {}, but it is {}{}",
                vis(e.visible),
                vis(d.visible),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({reasons})")
                }
            ));
        }
        if let Some(want) = &e.reasons {
            let (mut w, mut g) = (want.clone(), codes.clone());
            w.sort();
            g.sort();
            if w != g {
                problems.push(format!(
                    "expected reasons [{}], got [{}]",
                    want.join(", "),
                    codes.join(", ")
                ));
            }
        }
        for p in problems {
            failures.push(format!("{}:{line}: {} / {}: {p}", file.display(), e.user, e.feature));
        }
    }
    Ok(failures)
}

fn vis(v: bool) -> &'static str {
    if v { "visible" } else { "hidden" }
}

/// A one-time login URL, written into the state directory where the server (running with this config) redeems it.
fn request_session(config: &Config, user: &Username) -> Result<String> {
    let addr = config
        .server
        .listen
        .first()
        .ok_or_else(|| anyhow!("the config has no [server] listen address"))?;
    let grant = crate::store::sessions::Grant::own(user.clone(), "command line");
    let token = crate::store::sessions::new_security_token();
    let secret =
        crate::store::sessions::create_one_time_in(&config.server.state_dir.join("sessions"), &grant, Some(&token))?;
    Ok(format!("http://{addr}/{token}/login/?session={secret}"))
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

/// Logs go to standard error, coloured only on a terminal; `RUST_LOG` sets the level (default `info`).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Plain => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn serve(config_path: &Path, log_format: LogFormat) -> Result<ExitCode> {
    init_logging(log_format);
    let panel = Panel::open(config_path)?;
    panel.spawn_watcher(Duration::from_millis(50));
    let snapshot = panel.snapshot();
    let server = snapshot.config().server.clone();
    let addrs = server.listen.clone();
    let tls_config = if server.tls_listen.is_empty() {
        None
    } else {
        Some(crate::tls::server_config(
            server.tls_cert.as_deref(),
            server.tls_key.as_deref(),
            &server.state_dir,
        )?)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut listeners = Vec::new();
        for addr in &addrs {
            let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
            listeners.push(l);
        }
        let mut tls = Vec::new();
        if let Some(config) = tls_config {
            for addr in &server.tls_listen {
                let l = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
                tls.push(crate::tls::TlsListener::new(l, config.clone())?);
                println!("Tweakgate is serving HTTPS on https://{addr}/");
            }
        }
        for addr in &addrs {
            println!("Tweakgate is serving WHM API 1 and the panel on http://{addr}/");
        }
        // A login link is a credential: it goes to a terminal only, never into a log that stdout was sent to.
        if let Some(addr) = addrs.first() {
            if std::io::stdout().is_terminal() {
                let grant = crate::store::sessions::Grant::own(Username::root(), "command line");
                let (token, secret) = crate::whm::ops::sessions::start_one_time(&panel, &grant);
                println!("Log in as root with this one-time link (valid 5 minutes): http://{addr}/{token}/login/?session={secret}");
                println!("For another link later: tweakgate session --user root --config {}", config_path.display());
            } else {
                println!("For a login link: tweakgate session --user root --config {}", config_path.display());
            }
        }
        for r in panel.plugins().host.reports() {
            println!("plugin {r}");
        }
        tokio::spawn(crate::service::reload_on_sighup(Arc::clone(&panel)));
        panel.cluster.start(tokio::runtime::Handle::current(), &panel.snapshot().config().tweak_settings);
        crate::service::notify("READY=1");
        crate::http::serve_until(panel, listeners, tls, crate::service::shutdown_signal()).await?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod help_tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every subcommand, option and argument says what it is for in `--help`.
    #[test]
    fn everything_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "tweakgate", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
        Cli::command().debug_assert();
    }
}
