//! The `tweakgate` command line: serve, check and explain configurations.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use settings::{Config, Snapshot};

use crate::features::builtin_features;

#[derive(Parser, Debug)]
#[command(
    name = "tweakgate",
    version,
    about = "A settings-aware feature gate and plugin host modelled on cPanel & WHM"
)]
pub struct Cli {
    /// The configuration file; without it, config/tweakgate.toml (or the embedded default when that is absent).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate the configuration and the files it points at.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Explain whether a user sees a feature, with every reason when not.
    Explain {
        #[arg(long)]
        user: String,
        #[arg(long)]
        feature: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every user × every feature.
    Matrix {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Parse and validate; print the error with file, line and column.
    Check,
}

/// Runs the CLI and turns the outcome into an exit code.
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

fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if Path::new("config/tweakgate.toml").exists() => Ok(Config::load(Path::new("config/tweakgate.toml"))?),
        None => Config::embedded_default().context("the embedded default configuration is invalid"),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let config = load_config(cli.config.as_deref())?;
    let snapshot = Snapshot::compile(Arc::new(config), builtin_features());
    match cli.command {
        Command::Config {
            action: ConfigAction::Check,
        } => {
            let c = snapshot.config();
            println!(
                "{}: OK ({} resellers, {} accounts, {} plugins)",
                c.file.display(),
                c.users.resellers.len(),
                c.users.accounts.len(),
                c.plugins.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { user, feature, json } => {
            let features: Vec<String> = match feature {
                Some(f) => vec![f],
                None => snapshot.features().iter().map(|f| f.id.clone()).collect(),
            };
            for f in features {
                let d = snapshot.decide(&user, &f);
                if json {
                    let v = serde_json::json!({"user": user, "feature": f, "visible": d.visible, "reasons": d.reasons});
                    println!("{v}");
                } else if d.visible {
                    println!("{f}: visible to {user}");
                } else {
                    println!("{f}: hidden from {user}");
                    for r in &d.reasons {
                        println!("  {}: {r}", r.code());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Matrix { json } => {
            let users: Vec<_> = snapshot.config().users.all().collect();
            let snapshot = &snapshot;
            if json {
                let rows: Vec<_> = users
                    .iter()
                    .flat_map(|(u, _)| {
                        snapshot.features().iter().map(move |f| {
                            let d = snapshot.decide(u.as_str(), &f.id);
                            serde_json::json!({"user": u, "feature": f.id, "visible": d.visible, "reasons": d.reasons})
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                let width = users.iter().map(|(u, _)| u.as_str().len()).max().unwrap_or(4).max(4);
                print!("{:width$}  {:9}", "user", "kind");
                for f in snapshot.features() {
                    print!("  {}", f.id);
                }
                println!();
                for (u, kind) in &users {
                    print!("{:width$}  {:9}", u.as_str(), format!("{kind:?}").to_lowercase());
                    for f in snapshot.features() {
                        let d = snapshot.decide(u.as_str(), &f.id);
                        let cell = if d.visible {
                            "yes".to_owned()
                        } else {
                            format!("no ({})", d.codes().join(","))
                        };
                        print!("  {:w$}", cell, w = f.id.len());
                    }
                    println!();
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
