//! The panel's own features, declared to the gate like any plugin's, so hidden and forbidden are one decision.
//! A leaf: the snapshot (`state`), the operations (`whm`) and the pages (`web`) all name features from here.

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

/// Every WHM user: `applist`, `version`, `myprivs`.
pub const WHM: &str = "whm";
pub const TWEAK_SETTINGS: &str = "tweak-settings";
pub const FEATURE_ACCESS: &str = "feature-access";
pub const EDIT_RESELLER_PRIVILEGES: &str = "edit-reseller-privileges";
pub const MANAGE_API_TOKENS: &str = "manage-api-tokens";
pub const CREATE_USER_SESSION: &str = "create-user-session";
/// Clusters » Configuration Cluster: root only, with a full-access credential (member credentials are root's to hand
/// out), so a reseller with `all` or a narrowed token never sees it, rather than seeing it and being refused.
pub const CONFIGURATION_CLUSTER: &str = "configuration-cluster";

/// List Accounts (`listaccts`): `list-accts` or `all`; which accounts, the operation decides by ownership.
pub const LIST_ACCOUNTS: &str = "list-accounts";
/// `accountsummary`: `acct-summary` or `all`.
pub const ACCOUNT_SUMMARY: &str = "account-summary";

/// The pages and API areas the panel itself provides. An empty group keeps a feature out of the menu.
pub fn builtin_features() -> Vec<FeatureSpec> {
    vec![
        builtin(WHM, "WHM", "", &[]),
        builtin(TWEAK_SETTINGS, "Tweak Settings", "Server Configuration", &["all"]),
        builtin(FEATURE_ACCESS, "Feature Access", "Server Configuration", &["all"]),
        builtin(
            EDIT_RESELLER_PRIVILEGES,
            "Edit Reseller Nameservers and Privileges",
            "Resellers",
            &["all"],
        ),
        builtin(
            MANAGE_API_TOKENS,
            "Manage API Tokens",
            "Development",
            &["manage-api-tokens"],
        ),
        builtin(CREATE_USER_SESSION, "Create User Session", "", &["create-user-session"]),
        builtin(LIST_ACCOUNTS, "List Accounts", "", &["list-accts"]),
        builtin(ACCOUNT_SUMMARY, "Account Summary", "", &["acct-summary"]),
        FeatureSpec {
            requirements: builtin(CONFIGURATION_CLUSTER, "", "", &["all"])
                .requirements
                .root_only(true)
                .full_access(true),
            ..builtin(CONFIGURATION_CLUSTER, "Configuration Cluster", "Clusters", &["all"])
        },
    ]
}
