//! The feature gate: whether a user may see a feature, and every reason when not.
//!
//! Settings, users and declared features are compiled into an immutable [`Snapshot`] holding one bit per
//! (user, feature); readers share it through [`Gate`] without locks while a new one is built.
//!
//! Names are looked up borrowed, with a fast keyed hash: a request's user name costs no allocation, and its hash is
//! seeded per process, so names a client chooses cannot be crafted to collide.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::acl::{Acl, AclSet};
use crate::config::Config;
use crate::schema::{self, SettingDef};
use crate::username::{self, Username};
use crate::users::UserKind;

/// A map keyed by names, hashed with a fast hash that is seeded at random per process.
type NameMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What a feature needs, in WHM's menu language: any of the ACLs (OR), and all of the settings on (AND).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requirements {
    /// Empty means no ACL is needed; root and `all` pass any list.
    pub any_of: Vec<Acl>,
    /// Switch settings that must all be on. Built from schema entries, so an unknown key cannot get in.
    pub all_settings_on: Vec<&'static SettingDef>,
}

impl Requirements {
    /// Builds requirements from names, refusing any name the catalogue or the schema does not know.
    pub fn from_names<'a>(
        acls: impl IntoIterator<Item = &'a str>,
        settings: impl IntoIterator<Item = &'a str>,
    ) -> Result<Requirements, String> {
        let any_of = acls.into_iter().map(Acl::parse).collect::<Result<Vec<_>, _>>()?;
        let all_settings_on = settings
            .into_iter()
            .map(|key| {
                let def = schema::setting(key).ok_or_else(|| {
                    format!(
                        "unknown Tweak Setting \"{}\"{}",
                        key.escape_debug(),
                        crate::suggest::did_you_mean(key, schema::keys())
                    )
                })?;
                if def.is_switch() {
                    Ok(def)
                } else {
                    Err(format!("Tweak Setting \"{key}\" is not an On/Off setting"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Requirements {
            any_of,
            all_settings_on,
        })
    }
}

/// A feature as the gate sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSpec {
    /// Stable identifier, e.g. `remote-access-key`.
    pub id: String,
    pub title: String,
    /// WHM menu group, e.g. `Clusters`.
    pub group: String,
    pub requirements: Requirements,
    /// The plugin that provides it, if any.
    pub plugin: Option<String>,
    /// Set when the providing plugin faulted or is incompatible: the feature is hidden for everyone with this reason.
    pub fault: Option<Reason>,
}

/// Why a feature is hidden. Codes are stable; the data says which setting, privilege or user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    UnknownUser {
        user: String,
    },
    UnknownFeature {
        feature: String,
    },
    NotAReseller {
        user: String,
    },
    PrivilegeMissing {
        user: String,
        any_of: Vec<String>,
        /// The user holds one, but the API token used for this request does not carry it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        token_restricted: bool,
    },
    SettingDisabled {
        setting: String,
    },
    PluginFaulted {
        plugin: String,
        detail: String,
    },
    PluginIncompatible {
        plugin: String,
        detail: String,
    },
}

impl Reason {
    /// The stable code, e.g. `SETTING_DISABLED`.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::UnknownUser { .. } => "UNKNOWN_USER",
            Reason::UnknownFeature { .. } => "UNKNOWN_FEATURE",
            Reason::NotAReseller { .. } => "NOT_A_RESELLER",
            Reason::PrivilegeMissing { .. } => "PRIVILEGE_MISSING",
            Reason::SettingDisabled { .. } => "SETTING_DISABLED",
            Reason::PluginFaulted { .. } => "PLUGIN_FAULTED",
            Reason::PluginIncompatible { .. } => "PLUGIN_INCOMPATIBLE",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::UnknownUser { user } => write!(f, "\"{user}\" is not a user on this server"),
            Reason::UnknownFeature { feature } => write!(f, "no loaded plugin provides the feature \"{feature}\""),
            Reason::NotAReseller { user } => {
                write!(f, "{user} is a cPanel account, not a reseller, so it has no WHM access")
            }
            Reason::PrivilegeMissing {
                user,
                any_of,
                token_restricted: false,
            } => {
                write!(
                    f,
                    "{user} holds none of the privileges {} (nor \"all\"); grant one in Edit Reseller Nameservers and Privileges",
                    any_of.join(", ")
                )
            }
            Reason::PrivilegeMissing {
                user,
                any_of,
                token_restricted: true,
            } => {
                write!(
                    f,
                    "the API token {user} used does not carry any of the privileges {} (nor \"all\")",
                    any_of.join(", ")
                )
            }
            Reason::SettingDisabled { setting } => {
                let label = schema::setting(setting).map_or(setting.as_str(), |d| d.label);
                write!(
                    f,
                    "the Tweak Setting \"{label}\" ({setting}) is Off; turn it on in Tweak Settings » Security"
                )
            }
            Reason::PluginFaulted { plugin, detail } => {
                write!(f, "the plugin \"{plugin}\" faulted and is isolated: {detail}")
            }
            Reason::PluginIncompatible { plugin, detail } => {
                write!(f, "the plugin \"{plugin}\" could not be loaded: {detail}")
            }
        }
    }
}

/// The answer for one (user, feature): visible, or hidden with every failing reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decision {
    pub visible: bool,
    pub reasons: Vec<Reason>,
}

impl Decision {
    /// The answer for a visible feature: no reasons, nothing allocated.
    pub const VISIBLE: Decision = Decision {
        visible: true,
        reasons: Vec::new(),
    };

    pub fn codes(&self) -> Vec<&'static str> {
        self.reasons.iter().map(Reason::code).collect()
    }
}

/// A user's position in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(u32);

/// A feature's position in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeatureId(u32);

struct UserEntry {
    name: Username,
    kind: UserKind,
    privileges: AclSet,
}

/// What the gate works out once per feature: the ACLs it asks for, and its switches that are Off.
struct FeatureRule {
    needed: AclSet,
    settings_off: Vec<&'static SettingDef>,
}

/// An immutable, precomputed view: the config in force, the features, and one visibility bit per (user, feature).
pub struct Snapshot {
    config: Arc<Config>,
    features: Vec<FeatureSpec>,
    rules: Vec<FeatureRule>,
    users: Vec<UserEntry>,
    user_index: NameMap<Username, UserId>,
    feature_index: NameMap<String, FeatureId>,
    words_per_user: usize,
    visible: Vec<u64>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("users", &self.users.len())
            .field("features", &self.features.len())
            .finish()
    }
}

impl Snapshot {
    /// Compiles the config and the declared features into per-user visibility bits.
    pub fn compile(config: Arc<Config>, features: Vec<FeatureSpec>) -> Snapshot {
        let all = &config.users;
        // Root, then resellers, then accounts, each sorted: the order of `Users::all`, with each user's privileges
        // taken from the entry at hand rather than looked up again.
        let privileges_of = |name: &Username| {
            if name.is_root() {
                AclSet::EVERYTHING
            } else {
                all.resellers.get(name).map_or(AclSet::EMPTY, |r| r.privileges)
            }
        };
        let mut users = Vec::with_capacity(1 + all.resellers.len() + all.accounts.len());
        users.push(UserEntry {
            name: Username::root(),
            kind: UserKind::Root,
            privileges: AclSet::EVERYTHING,
        });
        users.extend(all.resellers.iter().map(|(name, r)| UserEntry {
            name: name.clone(),
            kind: UserKind::Reseller,
            privileges: if name.is_root() { AclSet::EVERYTHING } else { r.privileges },
        }));
        users.extend(all.accounts.keys().map(|name| UserEntry {
            name: name.clone(),
            kind: UserKind::Account,
            privileges: privileges_of(name),
        }));
        let mut user_index = NameMap::with_capacity_and_hasher(users.len(), Default::default());
        for (i, u) in users.iter().enumerate() {
            user_index.insert(u.name.clone(), UserId(i as u32));
        }
        let mut feature_index = NameMap::with_capacity_and_hasher(features.len(), Default::default());
        for (i, f) in features.iter().enumerate() {
            feature_index.entry(f.id.clone()).or_insert(FeatureId(i as u32));
        }
        // What does not depend on the user (settings, plugin faults) is worked out once per feature.
        let rules: Vec<FeatureRule> = features
            .iter()
            .map(|f| FeatureRule {
                needed: AclSet::from_acls(f.requirements.any_of.iter().copied()),
                settings_off: f
                    .requirements
                    .all_settings_on
                    .iter()
                    .copied()
                    .filter(|s| !config.tweak_settings.is_on(s.key))
                    .collect(),
            })
            .collect();
        let words_per_user = features.len().div_ceil(64).max(1);
        let mut visible = vec![0u64; users.len() * words_per_user];
        for (u, entry) in users.iter().enumerate() {
            for (fi, (feature, rule)) in features.iter().zip(&rules).enumerate() {
                let open = feature.fault.is_none() && rule.settings_off.is_empty();
                if open && user_failure(Some((entry.kind, entry.privileges)), rule.needed).is_none() {
                    visible[u * words_per_user + fi / 64] |= 1 << (fi % 64);
                }
            }
        }
        Snapshot {
            config,
            features,
            rules,
            users,
            user_index,
            feature_index,
            words_per_user,
            visible,
        }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn features(&self) -> &[FeatureSpec] {
        &self.features
    }

    pub fn feature(&self, id: FeatureId) -> &FeatureSpec {
        &self.features[id.0 as usize]
    }

    /// The user's position, by name as a request or an embedder has it; no allocation.
    ///
    /// Only valid usernames are in the index, so any other text simply is not found. Names longer than any
    /// username are refused before they are hashed.
    #[inline]
    pub fn user_id(&self, user: &str) -> Option<UserId> {
        if user.len() > username::MAX_LEN {
            return None;
        }
        self.user_index.get(user).copied()
    }

    #[inline]
    pub fn feature_id(&self, feature: &str) -> Option<FeatureId> {
        self.feature_index.get(feature).copied()
    }

    pub fn user_kind(&self, id: UserId) -> UserKind {
        self.users[id.0 as usize].kind
    }

    pub fn user_name(&self, id: UserId) -> &Username {
        &self.users[id.0 as usize].name
    }

    pub fn privileges(&self, id: UserId) -> AclSet {
        self.users[id.0 as usize].privileges
    }

    /// The fast path: one bit test, no allocation.
    #[inline]
    pub fn is_visible(&self, user: UserId, feature: FeatureId) -> bool {
        let f = feature.0 as usize;
        self.visible[user.0 as usize * self.words_per_user + f / 64] >> (f % 64) & 1 == 1
    }

    /// Features visible to a user, in declaration order.
    pub fn visible_features(&self, user: UserId) -> impl Iterator<Item = &FeatureSpec> {
        self.features
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.is_visible(user, FeatureId(*i as u32)))
            .map(|(_, f)| f)
    }

    /// The full explanation for a user and a feature, by name. Unknown names fail closed with a reason.
    ///
    /// A visible feature is answered from the snapshot's bit without allocating; only reasons are built.
    pub fn decide(&self, user: &str, feature: &str) -> Decision {
        let id = self.user_id(user);
        let fid = self.feature_id(feature);
        if let (Some(id), Some(fid)) = (id, fid)
            && self.is_visible(id, fid)
        {
            return Decision::VISIBLE;
        }
        let entry = id.map(|id| &self.users[id.0 as usize]);
        self.decide_as(user, entry.map(|e| (e.kind, e.privileges)), fid, feature, false)
    }

    /// Like [`decide`](Self::decide), but with the privileges a request actually carries (limited by an API token).
    pub fn decide_with_privileges(&self, user: UserId, feature: &str, privileges: AclSet) -> Decision {
        let entry = &self.users[user.0 as usize];
        let restricted = privileges != entry.privileges;
        let fid = self.feature_id(feature);
        self.decide_as(entry.name.as_str(), Some((entry.kind, privileges)), fid, feature, restricted)
    }

    fn decide_as(
        &self,
        user: &str,
        who: Option<(UserKind, AclSet)>,
        fid: Option<FeatureId>,
        feature: &str,
        token_restricted: bool,
    ) -> Decision {
        let reasons = match fid {
            Some(id) => self.evaluate(user, who, id, token_restricted),
            None => {
                let mut r = vec![Reason::UnknownFeature {
                    feature: feature.to_owned(),
                }];
                if who.is_none() {
                    r.insert(0, Reason::UnknownUser { user: user.to_owned() });
                }
                r
            }
        };
        Decision {
            visible: reasons.is_empty(),
            reasons,
        }
    }

    fn evaluate(&self, user: &str, who: Option<(UserKind, AclSet)>, id: FeatureId, token_restricted: bool) -> Vec<Reason> {
        let feature = self.feature(id);
        let rule = &self.rules[id.0 as usize];
        let failure = user_failure(who, rule.needed);
        let count = usize::from(failure.is_some()) + rule.settings_off.len() + usize::from(feature.fault.is_some());
        let mut reasons = Vec::with_capacity(count);
        match failure {
            None => {}
            Some(UserFailure::Unknown) => reasons.push(Reason::UnknownUser { user: user.to_owned() }),
            Some(UserFailure::NotAReseller) => reasons.push(Reason::NotAReseller { user: user.to_owned() }),
            Some(UserFailure::PrivilegeMissing) => reasons.push(Reason::PrivilegeMissing {
                user: user.to_owned(),
                any_of: feature
                    .requirements
                    .any_of
                    .iter()
                    .map(|a| a.name().to_owned())
                    .collect(),
                token_restricted,
            }),
        }
        reasons.extend(rule.settings_off.iter().map(|s| Reason::SettingDisabled {
            setting: s.key.to_owned(),
        }));
        if let Some(fault) = &feature.fault {
            reasons.push(fault.clone());
        }
        reasons
    }
}

/// What, about the user alone, keeps a feature hidden.
enum UserFailure {
    Unknown,
    NotAReseller,
    PrivilegeMissing,
}

/// The user's part of the rule: root or a reseller, holding `all` or one of the ACLs. Shared by the fast path and
/// the explanation, so they cannot disagree.
fn user_failure(who: Option<(UserKind, AclSet)>, needed: AclSet) -> Option<UserFailure> {
    match who {
        None => Some(UserFailure::Unknown),
        Some((UserKind::Account, _)) => Some(UserFailure::NotAReseller),
        Some((UserKind::Root | UserKind::Reseller, privileges)) => {
            (!needed.is_empty() && !privileges.check_any(needed)).then_some(UserFailure::PrivilegeMissing)
        }
    }
}

/// The snapshot in force, swapped whole when config or plugins change; readers never lock.
#[derive(Debug)]
pub struct Gate {
    current: ArcSwap<Snapshot>,
}

impl Gate {
    pub fn new(snapshot: Snapshot) -> Gate {
        Gate {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The snapshot for one request: hold it for the whole request so every check sees the same settings.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// A cheap guard for hot paths that do not keep the snapshot.
    pub fn peek(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// Replaces the snapshot; requests already holding the old one finish with it.
    pub fn store(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn remote_access_key() -> FeatureSpec {
        FeatureSpec {
            id: "remote-access-key".into(),
            title: "Remote Access Key".into(),
            group: "Clusters".into(),
            requirements: Requirements::from_names(["manage-api-tokens"], ["allow_deprecated_accesshash"]).unwrap(),
            plugin: Some("remote-access-key".into()),
            fault: None,
        }
    }

    fn snapshot(setting_on: bool) -> Snapshot {
        let text = format!(
            r#"
[tweak_settings]
allow_deprecated_accesshash = {setting_on}
[resellers.carol]
privileges = ["all"]
[resellers.bob]
privileges = ["manage-api-tokens", "list-accts"]
[resellers.erin]
privileges = ["list-accts"]
[resellers.empty]
privileges = []
[accounts.dave]
owner = "bob"
"#
        );
        let config = Config::parse(&text, Path::new("t.toml")).unwrap();
        Snapshot::compile(Arc::new(config), vec![remote_access_key()])
    }

    /// Spec §1: `ACL=manage-api-tokens` AND `CPCONF=allow_deprecated_accesshash`, across every kind of user.
    #[test]
    fn remote_access_key_rule() {
        let table: &[(bool, &str, &[&str])] = &[
            (true, "root", &[]),
            (true, "carol", &[]),
            (true, "bob", &[]),
            (true, "erin", &["PRIVILEGE_MISSING"]),
            (true, "empty", &["PRIVILEGE_MISSING"]),
            (true, "dave", &["NOT_A_RESELLER"]),
            (true, "nobody", &["UNKNOWN_USER"]),
            (false, "root", &["SETTING_DISABLED"]),
            (false, "carol", &["SETTING_DISABLED"]),
            (false, "bob", &["SETTING_DISABLED"]),
            (false, "erin", &["PRIVILEGE_MISSING", "SETTING_DISABLED"]),
            (false, "empty", &["PRIVILEGE_MISSING", "SETTING_DISABLED"]),
            (false, "dave", &["NOT_A_RESELLER", "SETTING_DISABLED"]),
            (false, "nobody", &["UNKNOWN_USER", "SETTING_DISABLED"]),
        ];
        let on = snapshot(true);
        let off = snapshot(false);
        let fid = on.feature_id("remote-access-key").unwrap();
        for (setting, user, codes) in table {
            let s = if *setting { &on } else { &off };
            let d = s.decide(user, "remote-access-key");
            assert_eq!(d.codes(), *codes, "setting {setting}, user {user}");
            assert_eq!(d.visible, codes.is_empty(), "setting {setting}, user {user}");
            if let Some(uid) = s.user_id(user) {
                assert_eq!(s.is_visible(uid, fid), d.visible, "fast path disagrees for {user}");
            }
        }
    }

    #[test]
    fn reasons_print_and_serialise() {
        let d = snapshot(false).decide("erin", "remote-access-key");
        let json = serde_json::to_string(&d.reasons).unwrap();
        assert_eq!(
            json,
            r#"[{"code":"PRIVILEGE_MISSING","user":"erin","any_of":["manage-api-tokens"]},{"code":"SETTING_DISABLED","setting":"allow_deprecated_accesshash"}]"#
        );
        let lines: Vec<String> = d.reasons.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "erin holds none of the privileges manage-api-tokens (nor \"all\"); grant one in Edit Reseller Nameservers and Privileges",
                "the Tweak Setting \"Allow deprecated WHM accesshash authentication\" (allow_deprecated_accesshash) is Off; turn it on in Tweak Settings » Security",
            ]
        );
    }

    #[test]
    fn unknown_feature_and_faults_fail_closed() {
        let s = snapshot(true);
        assert_eq!(s.decide("root", "nope").codes(), ["UNKNOWN_FEATURE"]);
        assert_eq!(s.decide("ghost", "nope").codes(), ["UNKNOWN_USER", "UNKNOWN_FEATURE"]);
        let mut faulty = remote_access_key();
        faulty.fault = Some(Reason::PluginFaulted {
            plugin: "remote-access-key".into(),
            detail: "panicked".into(),
        });
        let s = Snapshot::compile(s.config().clone(), vec![faulty]);
        assert_eq!(s.decide("root", "remote-access-key").codes(), ["PLUGIN_FAULTED"]);
        assert!(Requirements::from_names(["manage-api-token"], []).is_err());
        assert_eq!(
            Requirements::from_names([], ["allow_deprecated_acceshash"]).unwrap_err(),
            "unknown Tweak Setting \"allow_deprecated_acceshash\"; did you mean \"allow_deprecated_accesshash\"?"
        );
        assert!(Requirements::from_names([], ["cookieipvalidation"]).is_err());
    }

    #[test]
    fn token_restriction_is_explained() {
        let s = snapshot(true);
        let root = s.user_id("root").unwrap();
        let limited =
            AclSet::EVERYTHING.limit_by_token(Some(AclSet::from_acls([Acl::from_name("list-accts").unwrap()])));
        let d = s.decide_with_privileges(root, "remote-access-key", limited);
        assert!(!d.visible);
        assert!(matches!(
            d.reasons[0],
            Reason::PrivilegeMissing {
                token_restricted: true,
                ..
            }
        ));
    }

    #[test]
    fn gate_swaps_whole_snapshots() {
        let gate = Gate::new(snapshot(false));
        let held = gate.load();
        gate.store(snapshot(true));
        assert!(
            !held.decide("bob", "remote-access-key").visible,
            "a held snapshot does not change"
        );
        assert!(gate.load().decide("bob", "remote-access-key").visible);
    }
}
