//! The panel's own features, declared to the gate like any plugin's, so hidden and forbidden are one decision.

use settings::{FeatureSpec, Requirements};

fn builtin(id: &str, title: &str, group: &str, any_of: &[&str]) -> FeatureSpec {
    FeatureSpec {
        id: id.to_owned(),
        title: title.to_owned(),
        group: group.to_owned(),
        requirements: Requirements::from_names(any_of.iter().copied(), [])
            .expect("built-in ACL names are in the catalogue"),
        plugin: None,
        fault: None,
    }
}

/// The pages and API areas the panel itself provides. An empty group keeps a feature out of the menu.
pub fn builtin_features() -> Vec<FeatureSpec> {
    vec![
        builtin("whm", "WHM", "", &[]),
        builtin("tweak-settings", "Tweak Settings", "Server Configuration", &["all"]),
        builtin("feature-access", "Feature Access", "Server Configuration", &["all"]),
        builtin(
            "edit-reseller-privileges",
            "Edit Reseller Nameservers and Privileges",
            "Resellers",
            &["all"],
        ),
        builtin(
            "manage-api-tokens",
            "Manage API Tokens",
            "Development",
            &["manage-api-tokens"],
        ),
        builtin(
            "create-user-session",
            "Create User Session",
            "",
            &["create-user-session"],
        ),
    ]
}
