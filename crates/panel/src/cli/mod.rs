//! The `tweakgate` command line: serve the panel, check and explain configurations, manage keys and sessions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use clap::{Parser, Subcommand};
use plugin_host::PluginHost;
use settings::{Config, Snapshot, Username};

use crate::state::compile;

mod check;
mod cluster;
mod explain;
mod import;
mod init;
mod keys;
mod plugin_worker;
mod plugins;
mod serve;
mod server;
mod users;

pub use check::check;
pub use cluster::cluster_status;
pub use explain::matrix;

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
pub(crate) enum LogFormat {
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
    /// Write a real server's resellers, accounts and changed Tweak Settings as a TOML config (tokens and keys are
    /// never copied), to keep its privileges in git and test them with `check`.
    Import {
        /// The server's root directory (`/` on the server itself).
        #[arg(long = "from-whm", value_name = "ROOT")]
        from_whm: PathBuf,
        /// Write the config here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
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
        /// The page the session opens on, a path inside the session such as `/tweak-settings` (the Home menu when
        /// left out).
        #[arg(long, value_name = "PATH")]
        goto: Option<String>,
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
    /// The process a plugin with `isolation = "process"` runs in; the server starts it, with the library and a socket.
    #[command(hide = true)]
    PluginWorker,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ConfigAction {
    /// Parse and validate; print any error with file, line, column and key.
    Check {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ClusterAction {
    /// Each member: its user and credential signature (never the credential), changes waiting, lag, last push and
    /// last error, read from the state directory.
    Status {
        /// One JSON object per member instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum PluginsAction {
    /// Each configured plugin: loaded, faulted or refused (and why), its ABI version and features.
    List {
        /// One JSON object per plugin instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AccesshashAction {
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

pub(crate) fn load(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

/// The snapshot of the config on disk, with its plugins loaded here; a plugin the running server recorded as faulted
/// is faulted here too, so `explain` and `matrix` say what the server does (`PLUGIN_FAULTED`).
pub(crate) fn offline_snapshot(path: &Path) -> Result<(Snapshot, Arc<PluginHost>)> {
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

pub(crate) fn user(name: &str) -> Result<Username> {
    Username::new(name).map_err(|e| anyhow!("invalid username \"{}\": {e}", name.escape_debug()))
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let config_path = match &cli.command {
        Command::Completions { shell } => return init::completions(*shell),
        Command::Man => return init::man(),
        Command::Import { from_whm, output } => return import::import(from_whm, output.as_deref()),
        Command::Init { force } => return init::init(cli.config.as_deref(), *force),
        Command::PluginWorker => return Ok(plugin_worker::run()),
        _ => cli.config_path(matches!(cli.command, Command::Serve))?,
    };
    match cli.command {
        Command::Init { .. }
        | Command::Completions { .. }
        | Command::Man
        | Command::PluginWorker
        | Command::Import { .. } => {
            unreachable!("handled above")
        }
        Command::Serve => serve::serve(&config_path, cli.log_format),
        Command::Config {
            action: ConfigAction::Check { json },
        } => check::config_check(&config_path, json),
        Command::Explain { user, feature, json } => explain::explain(&config_path, &user, feature, json),
        Command::Matrix { json } => explain::print_matrix(&config_path, json),
        Command::Check {
            expectations,
            server,
            json,
        } => check::check_file(&config_path, expectations.as_deref(), server, json),
        Command::Plugins {
            action: PluginsAction::List { json },
        } => plugins::list(&config_path, json),
        Command::Accesshash { action } => keys::accesshash(&config_path, action),
        Command::Passwd { user } => users::passwd(&config_path, &user),
        Command::Session { user, goto } => users::session(&config_path, &user, goto.as_deref()),
        Command::Cluster {
            action: ClusterAction::Status { json },
        } => cluster::status(&config_path, json),
        Command::ConvertAccesshashToToken {
            verbose,
            all_resellers,
            users,
        } => keys::convert_accesshash_to_token(&config_path, verbose, all_resellers, &users),
    }
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
