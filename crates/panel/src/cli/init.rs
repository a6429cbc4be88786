//! `init`, `completions` and `man`: the commands that need no configuration to read.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::Cli;

/// `completions`: the shell completion script on standard output.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    clap_complete::generate(shell, &mut Cli::command(), "tweakgate", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// `man`: the manual page in roff on standard output.
pub(crate) fn man() -> Result<ExitCode> {
    clap_mangen::Man::new(Cli::command())
        .render(&mut std::io::stdout())
        .context("cannot write the manual page")?;
    Ok(ExitCode::SUCCESS)
}

/// `init`: the embedded default configuration written where `--config` names, or to the default place.
pub(crate) fn init(config: Option<&Path>, force: bool) -> Result<ExitCode> {
    let path = match config {
        Some(p) => p.to_path_buf(),
        None => crate::install::default_config_path()?,
    };
    crate::install::init(&path, force)?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}
