//! The Tweak Settings in force: stored values for known keys (checked against the schema) and unknown keys kept verbatim.
//!
//! A native `cpanel.config` is read leniently, key by key, as WHM keeps working with an odd value: a value the schema
//! rejects is kept as written (read back and rewritten untouched) while decisions use the setting's fallback.

use std::collections::{BTreeMap, BTreeSet};

use crate::schema::{self, SettingDef};

/// Values as `cpanel.config` stores them: `None` is *undefined* (a bare key), which differs from `Some("")`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TweakSettings {
    /// Keys set explicitly. Absent keys take their schema default.
    explicit: BTreeMap<String, Option<String>>,
    /// Known keys whose explicit value the schema rejects; only a lenient read (`keep_stored`) puts a key here.
    rejected: BTreeSet<String>,
}

impl TweakSettings {
    /// Every key at its default.
    pub fn defaults() -> Self {
        TweakSettings::default()
    }

    /// Sets a key to a stored value, checking known keys against the schema.
    /// Keys the schema does not know are accepted and kept, as WHM keeps them.
    /// Every value, known key or not, is one line (`native::check_one_line`).
    pub fn set_stored(&mut self, key: &str, value: Option<String>) -> Result<(), String> {
        match schema::setting(key) {
            Some(def) => def.check_stored(value.as_deref())?,
            None => value.as_deref().map_or(Ok(()), crate::native::check_one_line)?,
        }
        self.rejected.remove(key);
        self.explicit.insert(key.to_owned(), value);
        Ok(())
    }

    /// Sets a key as a native file holds it, whatever the value: when the schema rejects it, the value is still kept
    /// as written, decisions use the setting's fallback (`SettingDef::fallback`), and the reason is returned.
    pub fn keep_stored(&mut self, key: &str, value: Option<String>) -> Option<String> {
        let problem = schema::setting(key).and_then(|d| d.check_stored(value.as_deref()).err());
        if problem.is_some() {
            self.rejected.insert(key.to_owned());
        } else {
            self.rejected.remove(key);
        }
        self.explicit.insert(key.to_owned(), value);
        problem
    }

    /// The stored value: as written (even a value the schema rejects), else the default. `None` is undefined or
    /// unknown. This is what `get_tweaksetting` answers and a rewrite keeps.
    pub fn get(&self, key: &str) -> Option<&str> {
        match self.explicit.get(key) {
            Some(v) => v.as_deref(),
            None => schema::setting(key).and_then(|d| d.default),
        }
    }

    /// The value decisions use: the stored value, or the setting's fallback when the schema rejects the stored one.
    pub fn in_force(&self, key: &str) -> Option<&str> {
        if self.rejected.contains(key) {
            return schema::setting(key).and_then(SettingDef::fallback);
        }
        self.get(key)
    }

    /// Whether the stored value of a known key is one the schema rejects (its fallback is in force).
    pub fn is_rejected(&self, key: &str) -> bool {
        self.rejected.contains(key)
    }

    /// Whether a key was set explicitly (rather than taking its default).
    pub fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains_key(key)
    }

    /// True when a switch is on: the value in force is defined, not empty and not `0` (WHM's truthiness).
    pub fn is_on(&self, key: &str) -> bool {
        matches!(self.in_force(key), Some(v) if !v.is_empty() && v != "0")
    }

    /// Keys set explicitly, sorted, with their stored values (unknown and rejected keys included).
    pub fn explicit(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.explicit.iter().map(|(k, v)| (k.as_str(), v.as_deref()))
    }

    /// The one diff of two configurations' Tweak Settings: every key whose stored value here differs from `old`'s,
    /// with its value here (`None`: undefined), each once, in key order. A key set explicitly in neither takes its
    /// default in both, so only the explicit keys of either are compared.
    pub fn changes_since(&self, old: &TweakSettings) -> Vec<(String, Option<String>)> {
        let keys: BTreeSet<&str> = old
            .explicit
            .keys()
            .chain(self.explicit.keys())
            .map(String::as_str)
            .collect();
        keys.into_iter()
            .filter(|k| old.get(k) != self.get(k))
            .map(|k| (k.to_owned(), self.get(k).map(str::to_owned)))
            .collect()
    }

    /// Every schema key with the value in force.
    pub fn effective(&self) -> impl Iterator<Item = (&'static SettingDef, Option<&str>)> {
        schema::SETTINGS.iter().map(|d| (d, self.in_force(d.key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_since_names_each_changed_key_once() {
        let old = TweakSettings::defaults();
        let mut new = TweakSettings::defaults();
        new.set_stored("allow_deprecated_accesshash", Some("1".into())).unwrap();
        new.set_stored("some_unmodelled_key", Some("x".into())).unwrap();
        // Set explicitly to its default: no change.
        let default = schema::SETTINGS
            .iter()
            .find(|d| d.default.is_some())
            .expect("a default");
        new.set_stored(default.key, default.default.map(str::to_owned)).unwrap();
        assert_eq!(
            new.changes_since(&old),
            vec![
                ("allow_deprecated_accesshash".to_owned(), Some("1".to_owned())),
                ("some_unmodelled_key".to_owned(), Some("x".to_owned())),
            ]
        );
        assert!(new.changes_since(&new).is_empty());
        assert_eq!(
            old.changes_since(&new)
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["allow_deprecated_accesshash", "some_unmodelled_key"]
        );
        assert_eq!(
            old.changes_since(&new)[1].1,
            None,
            "an unknown key removed is undefined"
        );
    }

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

    #[test]
    fn a_rejected_value_is_kept_but_its_fallback_decides() {
        let mut t = TweakSettings::defaults();
        assert_eq!(
            t.keep_stored("allow_deprecated_accesshash", Some("yes".into()))
                .as_deref(),
            Some("expected 1 or 0, found \"yes\"")
        );
        assert_eq!(t.get("allow_deprecated_accesshash"), Some("yes"));
        assert_eq!(t.in_force("allow_deprecated_accesshash"), Some("0"));
        assert!(
            !t.is_on("allow_deprecated_accesshash"),
            "a truthy but invalid value is Off"
        );
        assert!(t.is_rejected("allow_deprecated_accesshash"));
        assert!(t.keep_stored("requiressl", Some("2".into())).is_some());
        assert!(t.is_on("requiressl"), "the default (On) decides");
        // A later valid value clears the rejection; so does a strict set.
        assert_eq!(t.keep_stored("allow_deprecated_accesshash", Some("1".into())), None);
        assert!(t.is_on("allow_deprecated_accesshash"));
        t.set_stored("requiressl", Some("0".into())).unwrap();
        assert!(!t.is_rejected("requiressl") && !t.is_on("requiressl"));
        // Keys the schema does not know are never rejected.
        assert_eq!(t.keep_stored("some_future_key", Some("anything".into())), None);
    }
}
