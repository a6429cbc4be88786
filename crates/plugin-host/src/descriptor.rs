//! A plugin's self-description: copied out of the library, then validated against the Tweak Settings schema and the
//! ACL catalogue before any of its features reach the gate.

use std::collections::HashSet;

use plugin_abi::drive::Failure;
use plugin_abi::{Feature, PluginEntry};
use settings::Requirements;

use crate::error::LoadError;

/// A plugin's name, version and features, owned by the host.
#[derive(Debug, Clone)]
pub(crate) struct Descriptor {
    pub name: String,
    pub version: String,
    /// Exactly as the plugin declared them.
    pub features: Vec<Feature>,
    /// One per feature once validated; empty before.
    pub requirements: Vec<Requirements>,
}

fn invalid(why: impl Into<String>) -> LoadError {
    LoadError::InvalidDescriptor { why: why.into() }
}

/// Asks the plugin to describe itself through the one driver of the boundary ([`plugin_abi::drive::describe`]) and
/// keeps the answer.
pub(crate) fn describe(entry: &PluginEntry, abi_version: u32) -> Result<Descriptor, LoadError> {
    // SAFETY: `entry` was read by `plugin_abi::drive::read_entry` with this version, from a library kept mapped.
    match unsafe { plugin_abi::drive::describe(entry, abi_version) } {
        Ok(info) => Ok(Descriptor {
            name: info.name,
            version: info.version,
            features: info.features,
            requirements: Vec::new(),
        }),
        Err(Failure::Panicked(message)) => Err(LoadError::PanickedDuringRegistration { message }),
        Err(other) => Err(invalid(match other {
            Failure::Contract(why) => why,
            other => other.to_string(),
        })),
    }
}

/// Checks a plugin's description on its own, as the host does when it loads a plugin (with no other plugin loaded),
/// without a library: the requirements of each feature when it is accepted. The fuzz targets call it with arbitrary
/// descriptions, since a description is whatever a plugin's author wrote.
pub fn check_description(info: &plugin_abi::PluginInfo) -> Result<Vec<Requirements>, LoadError> {
    Descriptor {
        name: info.name.clone(),
        version: info.version.clone(),
        features: info.features.clone(),
        requirements: Vec::new(),
    }
    .check(&[])
}

/// A feature id or function name: what WHM would accept in a URL without escaping.
pub(crate) fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn valid_path(p: &str) -> bool {
    p.starts_with('/')
        && p.len() > 1
        && !p.ends_with('/')
        && !p.split('/').any(|seg| seg == ".." || seg == ".")
        && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b))
}

impl Descriptor {
    /// Checks the description on its own and against plugins already loaded, and fills in the requirements.
    /// On refusal the caller keeps the descriptor, so its features can be shown as incompatible.
    pub(crate) fn validate(&mut self, others: &[&Descriptor]) -> Result<(), LoadError> {
        self.requirements = self.check(others)?;
        Ok(())
    }

    pub(crate) fn check(&self, others: &[&Descriptor]) -> Result<Vec<Requirements>, LoadError> {
        if !valid_id(&self.name) {
            return Err(invalid(format!(
                "the plugin name \"{}\" must be 1 to 64 letters, digits, '-', '_' or '.'",
                self.name.escape_debug()
            )));
        }
        if let Some(other) = others.iter().find(|o| o.name == self.name) {
            return Err(invalid(format!("a plugin named \"{}\" is already loaded", other.name)));
        }
        if self.features.is_empty() {
            return Err(invalid("the plugin declares no features"));
        }
        let mut ids = HashSet::new();
        let mut functions = HashSet::new();
        let mut requirements = Vec::new();
        for f in &self.features {
            if f.id.is_empty() {
                return Err(invalid("a feature has an empty id"));
            }
            if !valid_id(&f.id) {
                return Err(invalid(format!(
                    "the feature id \"{}\" must be 1 to 64 letters, digits, '-', '_' or '.'",
                    f.id.escape_debug()
                )));
            }
            if !ids.insert(f.id.as_str()) {
                return Err(invalid(format!("the feature id \"{}\" is declared twice", f.id)));
            }
            if f.title.trim().is_empty() {
                return Err(invalid(format!("the feature \"{}\" has an empty title", f.id)));
            }
            if f.path == "/" {
                return Err(invalid(format!(
                    "the page path \"/\" of feature \"{}\" is the Home menu's; give the page a path of its own, such as \"/{}\"",
                    f.id, f.id
                )));
            }
            if !f.path.is_empty() && !valid_path(&f.path) {
                return Err(invalid(format!(
                    "the page path \"{}\" of feature \"{}\" must start with '/' and hold only letters, digits, '-', '_', '.' and '/'",
                    f.path.escape_debug(),
                    f.id
                )));
            }
            if !f.path.is_empty() && f.group.trim().is_empty() {
                return Err(invalid(format!(
                    "the feature \"{}\" has a page but no menu group, so the Home menu could not link to it; name its group",
                    f.id
                )));
            }
            for function in &f.api_functions {
                if !valid_id(function) {
                    return Err(invalid(format!(
                        "the API function name \"{}\" of feature \"{}\" is not valid",
                        function.escape_debug(),
                        f.id
                    )));
                }
                if !functions.insert(function.as_str()) {
                    return Err(invalid(format!("the API function \"{function}\" is declared twice")));
                }
            }
            for (plugin, g) in others.iter().flat_map(|o| o.features.iter().map(move |g| (&o.name, g))) {
                if g.id == f.id {
                    return Err(invalid(format!(
                        "the feature id \"{}\" is already provided by the plugin \"{plugin}\"",
                        f.id
                    )));
                }
                if !f.path.is_empty() && g.path == f.path {
                    return Err(invalid(format!(
                        "the page path \"{}\" is already served by the plugin \"{plugin}\"",
                        f.path
                    )));
                }
                if let Some(function) = f.api_functions.iter().find(|x| g.api_functions.contains(x)) {
                    return Err(invalid(format!(
                        "the API function \"{function}\" is already answered by the plugin \"{plugin}\""
                    )));
                }
            }
            let reqs = Requirements::from_names(
                f.any_of_acls.iter().map(String::as_str),
                f.all_settings_on.iter().map(String::as_str),
            )
            .map_err(|detail| LoadError::UnknownRequirement {
                feature: f.id.clone(),
                detail,
            })?
            .root_only(f.root_only)
            .full_access(f.full_access);
            requirements.push(reqs);
        }
        Ok(requirements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Describes itself by panicking; used in-process through the same generated entry a library would export.
    struct PanicsInDescribe;

    impl plugin_abi::Plugin for PanicsInDescribe {
        fn describe() -> plugin_abi::PluginInfo {
            panic!("no description today")
        }

        fn handle(
            _: &plugin_abi::Request,
            _: &plugin_abi::Host<'_>,
        ) -> Result<plugin_abi::Response, plugin_abi::Error> {
            unreachable!("never loaded")
        }
    }

    #[test]
    fn a_panic_while_describing_is_a_typed_refusal() {
        let entry = plugin_abi::__private::entry::<PanicsInDescribe>();
        assert_eq!(
            describe(&entry, plugin_abi::ABI_VERSION).unwrap_err(),
            LoadError::PanickedDuringRegistration {
                message: "no description today".into()
            }
        );
        let no_functions = PluginEntry {
            describe: None,
            ..entry
        };
        assert_eq!(
            describe(&no_functions, plugin_abi::ABI_VERSION)
                .unwrap_err()
                .to_string(),
            "invalid plugin description: the entry has no describe function"
        );
    }

    fn feature(id: &str) -> Feature {
        Feature {
            id: id.into(),
            title: "T".into(),
            group: "Clusters".into(),
            path: format!("/{id}"),
            any_of_acls: vec!["manage-api-tokens".into()],
            all_settings_on: vec!["allow_deprecated_accesshash".into()],
            deprecation: None,
            api_functions: vec![],
            api0_functions: vec![],
            root_only: false,
            full_access: false,
        }
    }

    fn descriptor(features: Vec<Feature>) -> Descriptor {
        Descriptor {
            name: "p".into(),
            version: "1".into(),
            features,
            requirements: Vec::new(),
        }
    }

    fn refusal(features: Vec<Feature>) -> String {
        descriptor(features).validate(&[]).unwrap_err().to_string()
    }

    #[test]
    fn descriptions_are_validated() {
        let mut ok = descriptor(vec![feature("a")]);
        ok.validate(&[]).unwrap();
        assert_eq!(ok.requirements.len(), 1);
        assert_eq!(ok.requirements[0].all_settings_on[0].key, "allow_deprecated_accesshash");

        let cases: Vec<(Vec<Feature>, &str)> = vec![
            (vec![], "invalid plugin description: the plugin declares no features"),
            (
                vec![feature("")],
                "invalid plugin description: a feature has an empty id",
            ),
            (
                vec![feature("a"), feature("a")],
                "invalid plugin description: the feature id \"a\" is declared twice",
            ),
            (
                vec![Feature {
                    path: "remote".into(),
                    ..feature("a")
                }],
                "invalid plugin description: the page path \"remote\" of feature \"a\" must start with '/' and hold only letters, digits, '-', '_', '.' and '/'",
            ),
            (
                vec![Feature {
                    path: "/a/../b".into(),
                    ..feature("a")
                }],
                "invalid plugin description: the page path \"/a/../b\" of feature \"a\" must start with '/' and hold only letters, digits, '-', '_', '.' and '/'",
            ),
            (
                vec![Feature {
                    path: "/".into(),
                    ..feature("a")
                }],
                "invalid plugin description: the page path \"/\" of feature \"a\" is the Home menu's; give the page a path of its own, such as \"/a\"",
            ),
            (
                vec![Feature {
                    group: " ".into(),
                    ..feature("a")
                }],
                "invalid plugin description: the feature \"a\" has a page but no menu group, so the Home menu could not link to it; name its group",
            ),
            (
                vec![Feature {
                    all_settings_on: vec!["allow_deprecated_acceshash".into()],
                    ..feature("a")
                }],
                "feature \"a\" cannot be gated: unknown Tweak Setting \"allow_deprecated_acceshash\"; did you mean \"allow_deprecated_accesshash\"?",
            ),
            (
                vec![Feature {
                    all_settings_on: vec!["cookieipvalidation".into()],
                    ..feature("a")
                }],
                "feature \"a\" cannot be gated: Tweak Setting \"cookieipvalidation\" is not an On/Off setting",
            ),
            (
                vec![Feature {
                    api_functions: vec!["x".into(), "x".into()],
                    ..feature("a")
                }],
                "invalid plugin description: the API function \"x\" is declared twice",
            ),
        ];
        for (features, want) in cases {
            assert_eq!(refusal(features), want);
        }
        // A feature without a page needs no group: it is an API function, never in the menu.
        descriptor(vec![Feature {
            path: String::new(),
            group: String::new(),
            api_functions: vec!["x".into()],
            ..feature("a")
        }])
        .validate(&[])
        .unwrap();
    }

    #[test]
    fn names_taken_by_a_loaded_plugin_are_refused() {
        let first = Descriptor {
            name: "first".into(),
            ..descriptor(vec![Feature {
                api_functions: vec!["accesshash".into()],
                ..feature("a")
            }])
        };
        let others = [&first];
        let clash = |f: Feature| descriptor(vec![f]).validate(&others).unwrap_err().to_string();
        assert_eq!(
            clash(feature("a")),
            "invalid plugin description: the feature id \"a\" is already provided by the plugin \"first\""
        );
        assert_eq!(
            clash(Feature {
                path: "/a".into(),
                ..feature("b")
            }),
            "invalid plugin description: the page path \"/a\" is already served by the plugin \"first\""
        );
        assert_eq!(
            clash(Feature {
                api_functions: vec!["accesshash".into()],
                ..feature("b")
            }),
            "invalid plugin description: the API function \"accesshash\" is already answered by the plugin \"first\""
        );
    }
}
