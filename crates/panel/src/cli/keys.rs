//! `accesshash` and `convert_accesshash_to_token`: users' Remote Access Keys from the command line.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use settings::Username;

use super::{AccesshashAction, user};
use crate::state::Panel;

/// `accesshash generate|show|signature`.
pub(crate) fn accesshash(config_path: &Path, action: AccesshashAction) -> Result<ExitCode> {
    let panel = Panel::open(config_path)?;
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

/// `convert_accesshash_to_token`: the named users' keys (root when none is named) stored as API tokens.
pub(crate) fn convert_accesshash_to_token(
    config_path: &Path,
    verbose: bool,
    all_resellers: bool,
    users: &[String],
) -> Result<ExitCode> {
    let panel = Panel::open(config_path)?;
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
