//! Stored ↔ TOML: a value written in the TOML config converted to the form `cpanel.config` stores, and back.

use super::{SettingDef, SettingKind};

impl SettingDef {
    /// How a stored value is written in the TOML config, the inverse of [`SettingDef::stored_from_toml`]: switches as
    /// booleans, numbers as integers (a decimal that is not whole as a float), the undefined word of a number that
    /// may be undefined, and anything else as a string. `None`: the key is left out, as TOML has no undefined and an
    /// absent key takes the default, which is undefined then.
    pub fn toml_from_stored(&self, stored: Option<&str>) -> Result<Option<toml_edit::Value>, String> {
        use toml_edit::Value;
        Ok(Some(match (self.kind, stored) {
            (SettingKind::Binary | SettingKind::InverseBinary, Some(v)) => Value::from(v == "1"),
            (SettingKind::Number { .. }, Some(v)) => {
                Value::from(v.parse::<i64>().map_err(|_| format!("{v} is not a number"))?)
            }
            // A whole decimal is written as a TOML integer, any other as a float; both read back to the same value.
            (SettingKind::Decimal { .. }, Some(v)) => match v.parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => Value::from(v.parse::<f64>().map_err(|_| format!("{v} is not a number"))?),
            },
            (
                SettingKind::Number {
                    undefined_means: Some(word),
                    ..
                }
                | SettingKind::Decimal {
                    undefined_means: Some(word),
                    ..
                },
                None,
            ) => Value::from(word),
            (_, Some(v)) => Value::from(v),
            (_, None) if self.default.is_none() => return Ok(None),
            (_, None) => return Err(format!("{} may not be undefined", self.key)),
        }))
    }

    /// Converts a value written in a TOML config into stored form.
    ///
    /// Binary settings take `true`/`false` or `1`/`0`; radio settings take the stored or the shown value;
    /// numbers that may be undefined take the word WHM shows for it (e.g. `"unlimited"`).
    pub fn stored_from_toml(&self, value: &toml::Value) -> Result<Option<String>, String> {
        use toml::Value as V;
        let stored = match (&self.kind, value) {
            (SettingKind::Binary | SettingKind::InverseBinary, V::Boolean(b)) => {
                Some(if *b { "1" } else { "0" }.to_owned())
            }
            (SettingKind::Binary | SettingKind::InverseBinary, V::Integer(i @ (0 | 1))) => Some(i.to_string()),
            (SettingKind::Binary | SettingKind::InverseBinary, other) => {
                return Err(format!("expected true or false, found {}", describe(other)));
            }
            (SettingKind::Radio { options }, V::String(s)) => {
                match options.iter().find(|o| o.stored == s || o.shown == s) {
                    Some(o) => Some(o.stored.to_owned()),
                    None => {
                        let allowed: Vec<String> = options.iter().map(|o| format!("\"{}\"", o.shown)).collect();
                        return Err(format!("\"{}\" is not one of {}", s.escape_debug(), allowed.join(", ")));
                    }
                }
            }
            (SettingKind::Radio { options }, V::Integer(i)) if options.iter().any(|o| o.stored == i.to_string()) => {
                Some(i.to_string())
            }
            (SettingKind::Radio { .. }, other) => return Err(format!("expected a string, found {}", describe(other))),
            (SettingKind::Number { undefined_means, .. }, V::Integer(i)) => {
                self.check_range(*i)?;
                let _ = undefined_means;
                Some(i.to_string())
            }
            (
                SettingKind::Number {
                    undefined_means: Some(word),
                    ..
                },
                V::String(s),
            ) if s == word || s == "undefined" => None,
            (SettingKind::Number { undefined_means, .. }, other) => {
                let extra = undefined_means.map(|w| format!(" or \"{w}\"")).unwrap_or_default();
                return Err(format!("expected a whole number{extra}, found {}", describe(other)));
            }
            (SettingKind::Decimal { .. }, V::Float(f)) if f.is_finite() => Some(f.to_string()),
            (SettingKind::Decimal { .. }, V::Integer(i)) => Some(i.to_string()),
            (
                SettingKind::Decimal {
                    undefined_means: Some(word),
                    ..
                },
                V::String(s),
            ) if s == word || s == "undefined" => None,
            (SettingKind::Decimal { undefined_means, .. }, other) => {
                let extra = undefined_means.map(|w| format!(" or \"{w}\"")).unwrap_or_default();
                return Err(format!("expected a number{extra}, found {}", describe(other)));
            }
            (SettingKind::Text { .. }, V::String(s)) => Some(s.clone()),
            (SettingKind::Text { .. }, V::Integer(i)) => Some(i.to_string()),
            (SettingKind::Text { .. }, other) => return Err(format!("expected a string, found {}", describe(other))),
        };
        self.check_stored(stored.as_deref())?;
        Ok(stored)
    }
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the string \"{}\"", s.escape_debug()),
        toml::Value::Integer(i) => format!("the integer {i}"),
        toml::Value::Float(f) => format!("the float {f}"),
        toml::Value::Boolean(b) => format!("the boolean {b}"),
        toml::Value::Datetime(_) => "a datetime".to_owned(),
        toml::Value::Array(_) => "an array".to_owned(),
        toml::Value::Table(_) => "a table".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SETTINGS, SettingKind};

    /// Every setting's default, both switch positions, and undefined where it is allowed, written to TOML and read
    /// back, is the stored value it started as: the two conversions are each other's inverse.
    #[test]
    fn every_stored_value_round_trips_through_toml() {
        let mut checked = 0;
        for def in SETTINGS {
            let mut values: Vec<Option<&str>> = vec![def.default];
            if def.is_switch() {
                values.extend([Some("0"), Some("1")]);
            }
            if let SettingKind::Decimal { .. } = def.kind {
                values.push(Some("2.5"));
            }
            for stored in values {
                if def.check_stored(stored).is_err() {
                    continue;
                }
                let written = def
                    .toml_from_stored(stored)
                    .unwrap_or_else(|e| panic!("{}: {e}", def.key));
                let Some(written) = written else {
                    assert_eq!(stored, None, "{}: only undefined is left out", def.key);
                    continue;
                };
                let text = format!("v = {written}");
                let read: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {text}: {e}", def.key));
                let back = def
                    .stored_from_toml(&read["v"])
                    .unwrap_or_else(|e| panic!("{}: {text}: {e}", def.key));
                assert_eq!(back.as_deref(), stored, "{}: written as {text}", def.key);
                checked += 1;
            }
        }
        assert!(checked > SETTINGS.len(), "only {checked} values checked");
    }

    /// A value that is not a number is refused for a number, and undefined for a setting that must be defined.
    #[test]
    fn values_toml_cannot_hold_are_refused() {
        let number = SETTINGS
            .iter()
            .find(|d| matches!(d.kind, SettingKind::Number { .. }))
            .expect("a number setting");
        assert_eq!(number.toml_from_stored(Some("ten")).unwrap_err(), "ten is not a number");
        let switch = SETTINGS.iter().find(|d| d.is_switch()).expect("a switch");
        assert_eq!(
            switch.toml_from_stored(None).unwrap_err(),
            format!("{} may not be undefined", switch.key)
        );
    }
}
