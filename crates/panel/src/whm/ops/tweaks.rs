//! `get_tweaksetting` and `set_tweaksetting`: read and change one Tweak Setting, written back to the file it came from.

use serde_json::{Value, json};
use settings::schema;

use crate::auth::Authorized;
use crate::config_write;
use crate::features::TWEAK_SETTINGS;
use crate::whm::{Ctx, FromParams, Operation, Params, WhmError};

/// A Tweak Setting's key.
#[derive(Debug, Clone)]
pub struct Key {
    pub key: String,
}

impl FromParams for Key {
    fn from_params(p: &Params) -> Result<Key, WhmError> {
        Ok(Key {
            key: p.require("key")?.to_owned(),
        })
    }
}

#[derive(Debug)]
pub struct GetTweakSetting;

impl Operation for GetTweakSetting {
    const NAME: &'static str = "get_tweaksetting";
    const FEATURE: &'static str = TWEAK_SETTINGS;
    type Params = Key;
    type Output = Value;

    fn run(ctx: Ctx<'_>, _: Authorized<'_>, Key { key }: Key) -> Result<Value, WhmError> {
        let settings = &ctx.snapshot.config().tweak_settings;
        if schema::setting(&key).is_none() && !settings.is_explicit(&key) {
            return Err(WhmError::new(format!(
                "Unknown Tweak Setting key \"{}\"",
                key.escape_debug()
            )));
        }
        Ok(json!({"tweaksetting": {"key": key, "value": settings.get(&key)}}))
    }
}

/// A key and its new value; no value makes the setting undefined.
#[derive(Debug, Clone)]
pub struct Change {
    pub key: String,
    pub value: Option<String>,
}

impl FromParams for Change {
    fn from_params(p: &Params) -> Result<Change, WhmError> {
        Ok(Change {
            key: p.require("key")?.to_owned(),
            value: p.get("value").map(str::to_owned),
        })
    }
}

#[derive(Debug)]
pub struct SetTweakSetting;

impl Operation for SetTweakSetting {
    const NAME: &'static str = "set_tweaksetting";
    const FEATURE: &'static str = TWEAK_SETTINGS;
    type Params = Change;
    type Output = Value;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, Change { key, value }: Change) -> Result<Value, WhmError> {
        let Some(def) = schema::setting(&key) else {
            let hint = settings::suggest::did_you_mean(&key, schema::keys());
            return Err(WhmError::new(format!(
                "Unknown Tweak Setting key \"{}\"{hint}",
                key.escape_debug()
            )));
        };
        let panel = ctx.panel;
        let _guard = panel.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Read under the lock: another writer may have changed the file since this request's snapshot.
        let current = panel.snapshot();
        let old = current.config().tweak_settings.get(&key).map(str::to_owned);
        config_write::set_tweak_setting(current.config(), def, value.as_deref())
            .map_err(|e| WhmError::new(format!("{e:#}")))?;
        let fields = auth.audit_with(json!({"key": key, "old": old, "new": value}));
        panel.apply_write("setting_changed", fields).map_err(|e| {
            WhmError::new(format!(
                "the setting was written but the configuration does not load: {e}"
            ))
        })?;
        Ok(json!({"tweaksetting": {"key": key, "value": value}}))
    }
}
