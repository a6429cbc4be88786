//! `get_tweaksetting` and `set_tweaksetting`: read and change one Tweak Setting, written back to the file it came from,
//! with WHM's parameters (`key`, `value`, `module`), shapes and error strings.

use serde::Serialize;
use serde_json::json;
use settings::schema::{self, SettingKind};

use crate::auth::Authorized;
use crate::features::TWEAK_SETTINGS;
use crate::state::ReloadError;
use crate::whm::{Ctx, FromParams, Operation, Params, WhmError, parse_bool};

pub const INVALID_KEY: &str = "Invalid tweaksetting key";
pub const INVALID_MODULE: &str = "Invalid tweaksetting module";

/// WHM's answer to a value the setting does not take.
pub fn invalid_value(key: &str) -> String {
    format!("Invalid value for {key}; The setting will not be updated.")
}

/// The answer to a value holding a line break or NUL, which WHM refuses for every setting.
pub fn multi_line_value(key: &str, why: &str) -> String {
    format!("Invalid value for {key}; {why}. The setting will not be updated.")
}

/// The Tweak Settings module a key belongs to. Tweakgate holds the `Main` module (`cpanel.config`); the others are
/// accepted as WHM names them, and hold no key here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Module {
    #[default]
    Main,
    Basic,
    Mail,
    Apache,
}

impl Module {
    /// `module`, `Main` when absent or empty (as WHM reads it: clients send `module=` by default).
    pub fn from_params(p: &Params) -> Result<Module, WhmError> {
        match p.get("module") {
            None | Some("" | "Main") => Ok(Module::Main),
            Some("Basic") => Ok(Module::Basic),
            Some("Mail") => Ok(Module::Mail),
            Some("Apache") => Ok(Module::Apache),
            Some(_) => Err(WhmError::new(INVALID_MODULE)),
        }
    }
}

/// A Tweak Setting's key and module.
#[derive(Debug, Clone)]
pub struct Key {
    pub key: String,
    pub module: Module,
}

impl FromParams for Key {
    fn from_params(p: &Params) -> Result<Key, WhmError> {
        Ok(Key {
            module: Module::from_params(p)?,
            key: p.require("key")?.to_owned(),
        })
    }
}

/// Whether the key is one this server knows: modelled by the schema, or held by a native `cpanel.config` that the
/// schema does not model (WHM keeps and serves such keys).
fn is_known(ctx: Ctx<'_>, module: Module, key: &str) -> bool {
    module == Module::Main
        && (schema::setting(key).is_some()
            || (ctx.snapshot.config().sources.cpanel_config.is_some()
                && ctx.snapshot.config().tweak_settings.is_explicit(key)))
}

/// `data.tweaksetting`: the key, and its value unless it has none.
#[derive(Debug, Serialize)]
pub struct Setting {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Got {
    pub tweaksetting: Setting,
}

#[derive(Debug)]
pub struct GetTweakSetting;

impl Operation for GetTweakSetting {
    const NAME: &'static str = "get_tweaksetting";
    const FEATURE: &'static str = TWEAK_SETTINGS;
    type Params = Key;
    type Output = Got;

    fn run(ctx: Ctx<'_>, _: Authorized<'_>, Key { key, module }: Key) -> Result<Got, WhmError> {
        if !is_known(ctx, module, &key) {
            return Err(WhmError::new(INVALID_KEY));
        }
        let value = ctx.snapshot.config().tweak_settings.get(&key).map(str::to_owned);
        Ok(Got {
            tweaksetting: Setting { key, value },
        })
    }
}

/// A key and its new value; no value makes the setting undefined.
#[derive(Debug, Clone)]
pub struct Change {
    pub key: String,
    pub value: Option<String>,
    pub module: Module,
}

impl FromParams for Change {
    fn from_params(p: &Params) -> Result<Change, WhmError> {
        Ok(Change {
            module: Module::from_params(p)?,
            key: p.require("key")?.to_owned(),
            value: p.get("value").map(str::to_owned),
        })
    }
}

#[derive(Debug)]
pub struct SetTweakSetting;

impl Operation for SetTweakSetting {
    const WRITES: bool = true;
    const NAME: &'static str = "set_tweaksetting";
    const FEATURE: &'static str = TWEAK_SETTINGS;
    type Params = Change;
    /// Metadata only, as WHM answers.
    type Output = ();

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, Change { key, value, module }: Change) -> Result<(), WhmError> {
        if !is_known(ctx, module, &key) {
            return Err(WhmError::new(INVALID_KEY));
        }
        let def = schema::setting(&key);
        // A switch takes WHM's boolean words as well as 1/0.
        let value = match (def.map(|d| d.kind), value) {
            (Some(SettingKind::Binary | SettingKind::InverseBinary), Some(v)) => {
                Some(parse_bool(&v).map_or(v, |on| if on { "1" } else { "0" }.to_owned()))
            }
            (_, v) => v,
        };
        // One line only, for every key: a line break would write a line of its own into `cpanel.config`.
        if let Some(Err(why)) = value.as_deref().map(settings::native::check_one_line) {
            return Err(WhmError::new(multi_line_value(&key, &why)));
        }
        if let Some(def) = def
            && def.check_stored(value.as_deref()).is_err()
        {
            return Err(WhmError::new(invalid_value(&key)));
        }
        let edit = ctx.panel.edit_config().map_err(|e| WhmError::new(format!("{e:#}")))?;
        // Read under the lock: another writer may have changed the file since this request's snapshot.
        let old = edit.before().config().tweak_settings.get(&key).map(str::to_owned);
        let written = match def {
            Some(def) => edit.set_tweak_setting(def, value.as_deref()),
            None => edit.set_unmodelled_tweak_setting(&key, value.as_deref()),
        };
        written.map_err(|e| WhmError::new(format!("{e:#}")))?;
        let fields = auth.audit_with(json!({"key": key, "old": old, "new": value}));
        edit.commit("setting_changed", fields).map_err(|e| match e {
            ReloadError::Cluster(why) => WhmError::new(format!("The setting was not sent to the cluster: {why}.")),
            e => WhmError::new(format!(
                "the setting was written but the configuration does not load: {e}"
            )),
        })?;
        Ok(())
    }
}
