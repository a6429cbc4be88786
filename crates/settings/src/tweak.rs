//! The Tweak Settings in force: stored values for known keys (checked against the schema) and unknown keys kept verbatim.

use std::collections::BTreeMap;

use crate::schema::{self, SettingDef};

/// Values as `cpanel.config` stores them: `None` is *undefined* (a bare key), which differs from `Some("")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TweakSettings {
    /// Keys set explicitly. Absent keys take their schema default.
    explicit: BTreeMap<String, Option<String>>,
}

impl TweakSettings {
    /// Every key at its default.
    pub fn defaults() -> Self {
        TweakSettings::default()
    }

    /// Sets a key to a stored value, checking known keys against the schema.
    /// Keys the schema does not know are accepted and kept, as WHM keeps them.
    pub fn set_stored(&mut self, key: &str, value: Option<String>) -> Result<(), String> {
        if let Some(def) = schema::setting(key) {
            def.check_stored(value.as_deref())?;
        }
        self.explicit.insert(key.to_owned(), value);
        Ok(())
    }

    /// The stored value in force for a key: explicit, else the default. `None` is undefined or unknown.
    pub fn get(&self, key: &str) -> Option<&str> {
        match self.explicit.get(key) {
            Some(v) => v.as_deref(),
            None => schema::setting(key).and_then(|d| d.default),
        }
    }

    /// Whether a key was set explicitly (rather than taking its default).
    pub fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains_key(key)
    }

    /// True when a switch is on: the stored value is defined, not empty and not `0` (WHM's truthiness).
    pub fn is_on(&self, key: &str) -> bool {
        matches!(self.get(key), Some(v) if !v.is_empty() && v != "0")
    }

    /// Keys set explicitly, sorted, with their stored values (unknown keys included).
    pub fn explicit(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.explicit.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// Every schema key with the value in force.
    pub fn effective(&self) -> impl Iterator<Item = (&'static SettingDef, Option<&str>)> {
        schema::SETTINGS.iter().map(|d| (d, self.get(d.key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_explicit_wins() {
        let mut t = TweakSettings::defaults();
        assert!(!t.is_on("allow_deprecated_accesshash"));
        assert!(t.is_on("requiressl"));
        t.set_stored("allow_deprecated_accesshash", Some("1".into())).unwrap();
        assert!(t.is_on("allow_deprecated_accesshash"));
        assert!(t.set_stored("allow_deprecated_accesshash", Some("yes".into())).is_err());
        t.set_stored("some_future_key", None).unwrap();
        assert_eq!(t.get("some_future_key"), None);
        assert!(t.is_explicit("some_future_key"));
    }
}
