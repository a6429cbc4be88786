//! The feature gate: whether a user may see a feature, and every reason when not.
//!
//! Settings, users and declared features are compiled into an immutable [`Snapshot`] holding one bit per
//! (user, feature); readers share it through [`Gate`] without locks while a new one is built.
//!
//! Names are looked up borrowed, with a fast hash seeded at random per process: a request's user name costs no
//! allocation. Only root's config puts names in the index, and a lookup adds nothing to it, so a name a client sends
//! can at most walk the probe sequence of names already there; the per-process seed keeps even that from being
//! planned ahead.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use compact_str::CompactString;

use crate::acl::{Acl, AclSet};
use crate::config::Config;
use crate::schema::{self, SettingDef};
use crate::username::{self, Username};
use crate::users::UserKind;

/// A map keyed by names, hashed with a fast hash that is seeded at random per process.
type NameMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Up to this many features, a feature is looked up by comparing names rather than through the index.
const FEATURES_SCANNED: usize = 16;

/// A username packed into two integers, its bytes in order and zeros after: a lookup hashes and compares a key
/// held in the table, with no string to follow. Two `u64`s rather than one `u128` keep a table slot at 24 bytes
/// instead of 32, so more of the table stays in cache.
///
/// Packing is one-to-one for texts of at most 16 bytes without NUL, which covers every valid username; any
/// other text has no key, so it is not found (a name with a NUL must not pack to the name before it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct NameKey([u64; 2]);

impl NameKey {
    /// Packs in registers, byte by byte: a name is a few bytes, and copying it into a stack buffer to read it back
    /// whole costs more than that.
    #[inline]
    fn of(name: &str) -> Option<NameKey> {
        let bytes = name.as_bytes();
        if bytes.len() > username::MAX_LEN {
            return None;
        }
        let mut packed = [0u64; 2];
        for (i, &b) in bytes.iter().enumerate() {
            if b == 0 {
                return None;
            }
            packed[i / 8] |= u64::from(b) << (8 * (i % 8));
        }
        Some(NameKey(packed))
    }
}

/// What a feature needs, in WHM's menu language: any of the ACLs (OR), and all of the settings on (AND).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Requirements {
    /// Empty means no ACL is needed; root and `all` pass any list.
    pub any_of: Vec<Acl>,
    /// Switch settings that must all be on. Built from schema entries, so an unknown key cannot get in.
    pub all_settings_on: Vec<&'static SettingDef>,
    /// Only root passes (resellers holding `all` do not): `ROOT_ONLY`.
    pub root_only: bool,
    /// Only a credential with all of its user's privileges passes (not an API token narrowed by a list, not a
    /// limited session): `FULL_ACCESS_REQUIRED`.
    pub full_access: bool,
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
            root_only: false,
            full_access: false,
        })
    }

    /// The same requirements, passed by root alone when `yes`.
    pub fn root_only(mut self, yes: bool) -> Requirements {
        self.root_only = yes;
        self
    }

    /// The same requirements, passed only by a full-access credential when `yes`.
    pub fn full_access(mut self, yes: bool) -> Requirements {
        self.full_access = yes;
        self
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
        user: CompactString,
    },
    UnknownFeature {
        feature: CompactString,
    },
    NotAReseller {
        user: CompactString,
    },
    /// Only root uses the feature.
    RootOnly {
        user: CompactString,
    },
    /// Only a credential with every privilege of its user uses the feature; this one was narrowed.
    FullAccessRequired {
        user: CompactString,
    },
    /// The user is suspended on a real server: WHM refuses its credentials.
    UserSuspended {
        user: CompactString,
    },
    PrivilegeMissing {
        user: CompactString,
        /// Shared with the snapshot's rule: a decision copies no list.
        any_of: Arc<[CompactString]>,
        /// The user holds one, but the API token used for this request does not carry it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        token_restricted: bool,
    },
    SettingDisabled {
        setting: CompactString,
    },
    PluginFaulted {
        plugin: CompactString,
        detail: CompactString,
    },
    PluginIncompatible {
        plugin: CompactString,
        detail: CompactString,
    },
    /// A WHM API token of a real server that expired: it stays listed and authenticates nothing.
    TokenExpired {
        token: CompactString,
        /// Unix time.
        expired_at: u64,
    },
}

impl Reason {
    /// The stable code, e.g. `SETTING_DISABLED`.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::UnknownUser { .. } => "UNKNOWN_USER",
            Reason::UnknownFeature { .. } => "UNKNOWN_FEATURE",
            Reason::NotAReseller { .. } => "NOT_A_RESELLER",
            Reason::RootOnly { .. } => "ROOT_ONLY",
            Reason::FullAccessRequired { .. } => "FULL_ACCESS_REQUIRED",
            Reason::UserSuspended { .. } => "USER_SUSPENDED",
            Reason::PrivilegeMissing { .. } => "PRIVILEGE_MISSING",
            Reason::SettingDisabled { .. } => "SETTING_DISABLED",
            Reason::PluginFaulted { .. } => "PLUGIN_FAULTED",
            Reason::PluginIncompatible { .. } => "PLUGIN_INCOMPATIBLE",
            Reason::TokenExpired { .. } => "TOKEN_EXPIRED",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::UnknownUser { user } => text::unknown_user(f, user),
            Reason::UnknownFeature { feature } => text::unknown_feature(f, feature),
            Reason::NotAReseller { user } => text::not_a_reseller(f, user),
            Reason::RootOnly { user } => text::root_only(f, user),
            Reason::FullAccessRequired { user } => text::full_access_required(f, user),
            Reason::UserSuspended { user } => text::user_suspended(f, user),
            Reason::PrivilegeMissing {
                user,
                any_of,
                token_restricted,
            } => text::privilege_missing(f, user, any_of.iter().map(CompactString::as_str), *token_restricted),
            Reason::SettingDisabled { setting } => {
                let label = schema::setting(setting).map_or(setting.as_str(), |d| d.label);
                text::setting_disabled(f, label, setting)
            }
            Reason::PluginFaulted { plugin, detail } => text::plugin_faulted(f, plugin, detail),
            Reason::PluginIncompatible { plugin, detail } => text::plugin_incompatible(f, plugin, detail),
            Reason::TokenExpired { token, expired_at } => {
                write!(
                    f,
                    "the API token {token} expired at {expired_at} (Unix time) and authenticates nothing"
                )
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
    /// Suspended on a real server: every feature hidden with `USER_SUSPENDED`.
    suspended: bool,
}

impl UserEntry {
    fn who(&self, privileges: AclSet) -> Who {
        Who {
            kind: self.kind,
            privileges,
            suspended: self.suspended,
        }
    }
}

/// Who asks, as the rule reads it: the user's kind, the privileges the credential carries, and whether the user is
/// suspended.
#[derive(Debug, Clone, Copy)]
struct Who {
    kind: UserKind,
    privileges: AclSet,
    suspended: bool,
}

/// What the gate works out once per feature: the ACLs it asks for, and its switches that are Off.
struct FeatureRule {
    needed: AclSet,
    /// The ACL names of `any_of`, in the rule's order, as every reason that lists them shares them.
    any_of: Arc<[CompactString]>,
    settings_off: Vec<&'static SettingDef>,
    root_only: bool,
    full_access: bool,
}

/// The serial of the next snapshot compiled.
static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// An immutable, precomputed view: the config in force, the features, and one visibility bit per (user, feature).
pub struct Snapshot {
    config: Arc<Config>,
    features: Vec<FeatureSpec>,
    rules: Vec<FeatureRule>,
    users: Vec<UserEntry>,
    user_index: NameMap<NameKey, UserId>,
    feature_index: NameMap<String, FeatureId>,
    words_per_user: usize,
    visible: Vec<u64>,
    /// Which compiled snapshot this is, unique in the process (see [`Snapshot::serial`]).
    serial: u64,
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
            suspended: false,
        });
        users.extend(all.resellers.iter().map(|(name, r)| UserEntry {
            name: name.clone(),
            kind: UserKind::Reseller,
            privileges: if name.is_root() {
                AclSet::EVERYTHING
            } else {
                r.privileges
            },
            suspended: r.suspended.is_some(),
        }));
        users.extend(all.accounts.keys().map(|name| UserEntry {
            name: name.clone(),
            kind: UserKind::Account,
            privileges: privileges_of(name),
            suspended: false,
        }));
        let mut user_index = NameMap::with_capacity_and_hasher(users.len(), Default::default());
        for (i, u) in users.iter().enumerate() {
            let key = NameKey::of(u.name.as_str()).expect("a valid username is at most 16 bytes without NUL");
            user_index.insert(key, UserId(i as u32));
        }
        let mut feature_index = NameMap::default();
        if features.len() > FEATURES_SCANNED {
            feature_index.reserve(features.len());
            for (i, f) in features.iter().enumerate() {
                feature_index.entry(f.id.clone()).or_insert(FeatureId(i as u32));
            }
        }
        // What does not depend on the user (settings, plugin faults) is worked out once per feature.
        let rules: Vec<FeatureRule> = features
            .iter()
            .map(|f| FeatureRule {
                needed: AclSet::from_acls(f.requirements.any_of.iter().copied()),
                any_of: f
                    .requirements
                    .any_of
                    .iter()
                    .map(|a| CompactString::const_new(a.name()))
                    .collect(),
                settings_off: f
                    .requirements
                    .all_settings_on
                    .iter()
                    .copied()
                    .filter(|s| !config.tweak_settings.is_on(s.key))
                    .collect(),
                root_only: f.requirements.root_only,
                full_access: f.requirements.full_access,
            })
            .collect();
        let words_per_user = features.len().div_ceil(64).max(1);
        let mut visible = vec![0u64; users.len() * words_per_user];
        for (u, entry) in users.iter().enumerate() {
            for (fi, (feature, rule)) in features.iter().zip(&rules).enumerate() {
                let open = feature.fault.is_none() && rule.settings_off.is_empty();
                if open && user_failure(Some(entry.who(entry.privileges)), rule, true).is_none() {
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
            serial: NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// A number no other snapshot compiled in this process has: what an answer derived from this snapshot alone
    /// depends on, so a cache (an OFREP `ETag`, answers prepared once per snapshot) can be keyed by it.
    pub fn serial(&self) -> u64 {
        self.serial
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
        self.user_index.get(&NameKey::of(user)?).copied()
    }

    /// The feature's position, by name. A few features are found by comparing names, which costs less than hashing
    /// one; many are found through the index.
    #[inline]
    pub fn feature_id(&self, feature: &str) -> Option<FeatureId> {
        if self.features.len() <= FEATURES_SCANNED {
            let i = self.features.iter().position(|f| f.id == feature)?;
            return Some(FeatureId(i as u32));
        }
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
        self.explain(user, feature).to_decision()
    }

    /// Like [`decide`](Self::decide), but with the privileges a request actually carries (limited by an API token).
    pub fn decide_with_privileges(&self, user: UserId, feature: &str, privileges: AclSet) -> Decision {
        self.explain_with_privileges(user, feature, privileges).to_decision()
    }

    /// The same answer as [`decide`](Self::decide), borrowed: nothing is allocated, the reasons are worked out
    /// when they are read and rendered to text only when they are shown.
    pub fn explain<'a>(&'a self, user: &'a str, feature: &'a str) -> Explanation<'a> {
        let id = self.user_id(user);
        let who = id.map(|id| {
            let entry = &self.users[id.0 as usize];
            entry.who(entry.privileges)
        });
        let fid = self.feature_id(feature);
        let visible = match (id, fid) {
            (Some(id), Some(fid)) => self.is_visible(id, fid),
            _ => false,
        };
        Explanation {
            snapshot: self,
            user,
            who,
            feature: fid.ok_or(feature),
            token_restricted: false,
            full_access: true,
            visible,
        }
    }

    /// Like [`explain`](Self::explain), with the privileges a request actually carries; the credential counts as
    /// full access when they are all of the user's.
    pub fn explain_with_privileges<'a>(
        &'a self,
        user: UserId,
        feature: &'a str,
        privileges: AclSet,
    ) -> Explanation<'a> {
        let full_access = privileges == self.users[user.0 as usize].privileges;
        self.explain_for(user, feature, privileges, full_access)
    }

    /// The decision for a credential: the privileges it carries and whether it is a full-access one (no list
    /// narrowed it), which features that require one ([`Requirements::full_access`]) need.
    pub fn decide_for(&self, user: UserId, feature: &str, privileges: AclSet, full_access: bool) -> Decision {
        self.explain_for(user, feature, privileges, full_access).to_decision()
    }

    /// [`decide_for`](Self::decide_for), borrowed.
    pub fn explain_for<'a>(
        &'a self,
        user: UserId,
        feature: &'a str,
        privileges: AclSet,
        full_access: bool,
    ) -> Explanation<'a> {
        let entry = &self.users[user.0 as usize];
        let mut explanation = Explanation {
            snapshot: self,
            user: entry.name.as_str(),
            who: Some(entry.who(privileges)),
            feature: self.feature_id(feature).ok_or(feature),
            token_restricted: privileges != entry.privileges,
            full_access,
            visible: false,
        };
        explanation.visible = explanation.reasons().next().is_none();
        explanation
    }
}

/// The gate's answer for one (user, feature), borrowed from the snapshot and the question.
///
/// [`Snapshot::decide`] is this turned into an owned [`Decision`]; a caller that only shows the reasons, or only
/// needs the answer, can read them here without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Explanation<'a> {
    snapshot: &'a Snapshot,
    user: &'a str,
    who: Option<Who>,
    /// The feature's position, or its name when no feature has it.
    feature: Result<FeatureId, &'a str>,
    token_restricted: bool,
    /// The credential carries all of the user's privileges.
    full_access: bool,
    visible: bool,
}

impl<'a> Explanation<'a> {
    pub fn visible(&self) -> bool {
        self.visible
    }

    /// Every reason the feature is hidden, in the order [`Decision::reasons`] lists them; none when visible.
    pub fn reasons(&self) -> impl Iterator<Item = ReasonRef<'a>> + use<'a> {
        let user = self.user;
        let (head, unknown_feature, settings_off, fault): (_, _, &'a [&'static SettingDef], _) = match self.feature {
            Err(feature) => (
                self.who.is_none().then_some(ReasonRef::UnknownUser { user }),
                Some(ReasonRef::UnknownFeature { feature }),
                &[],
                None,
            ),
            Ok(id) => {
                let spec = self.snapshot.feature(id);
                let rule = &self.snapshot.rules[id.0 as usize];
                let head = user_failure(self.who, rule, self.full_access).map(|failure| match failure {
                    UserFailure::Unknown => ReasonRef::UnknownUser { user },
                    UserFailure::Suspended => ReasonRef::UserSuspended { user },
                    UserFailure::NotAReseller => ReasonRef::NotAReseller { user },
                    UserFailure::RootOnly => ReasonRef::RootOnly { user },
                    UserFailure::FullAccessRequired => ReasonRef::FullAccessRequired { user },
                    UserFailure::PrivilegeMissing => ReasonRef::PrivilegeMissing {
                        user,
                        any_of: &rule.any_of,
                        token_restricted: self.token_restricted,
                    },
                });
                (head, None, &rule.settings_off[..], spec.fault.as_ref())
            }
        };
        head.into_iter()
            .chain(unknown_feature)
            .chain(
                settings_off
                    .iter()
                    .map(|&setting| ReasonRef::SettingDisabled { setting }),
            )
            .chain(fault.map(ReasonRef::Plugin))
    }

    /// The owned decision: allocates only for the reasons it holds.
    pub fn to_decision(&self) -> Decision {
        if self.visible {
            return Decision::VISIBLE;
        }
        let reasons: Vec<Reason> = self.reasons().map(|r| r.to_reason()).collect();
        Decision {
            visible: reasons.is_empty(),
            reasons,
        }
    }
}

/// A [`Reason`] borrowed from the snapshot: the same code and the same text, built only when shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonRef<'a> {
    UnknownUser {
        user: &'a str,
    },
    UnknownFeature {
        feature: &'a str,
    },
    NotAReseller {
        user: &'a str,
    },
    RootOnly {
        user: &'a str,
    },
    FullAccessRequired {
        user: &'a str,
    },
    UserSuspended {
        user: &'a str,
    },
    PrivilegeMissing {
        user: &'a str,
        /// ACL names, in the rule's order.
        any_of: &'a Arc<[CompactString]>,
        token_restricted: bool,
    },
    SettingDisabled {
        setting: &'static SettingDef,
    },
    /// The providing plugin faulted or is incompatible, as recorded on the feature.
    Plugin(&'a Reason),
}

impl ReasonRef<'_> {
    /// The stable code, e.g. `SETTING_DISABLED`.
    pub fn code(&self) -> &'static str {
        match self {
            ReasonRef::UnknownUser { .. } => "UNKNOWN_USER",
            ReasonRef::UnknownFeature { .. } => "UNKNOWN_FEATURE",
            ReasonRef::NotAReseller { .. } => "NOT_A_RESELLER",
            ReasonRef::RootOnly { .. } => "ROOT_ONLY",
            ReasonRef::FullAccessRequired { .. } => "FULL_ACCESS_REQUIRED",
            ReasonRef::UserSuspended { .. } => "USER_SUSPENDED",
            ReasonRef::PrivilegeMissing { .. } => "PRIVILEGE_MISSING",
            ReasonRef::SettingDisabled { .. } => "SETTING_DISABLED",
            ReasonRef::Plugin(reason) => reason.code(),
        }
    }

    /// The owned reason, as [`Decision::reasons`] holds it.
    pub fn to_reason(&self) -> Reason {
        // Names of users and features fit inline (no allocation up to 24 bytes); setting keys are `'static` and
        // referenced, and the ACL list is the rule's, shared.
        match *self {
            ReasonRef::UnknownUser { user } => Reason::UnknownUser { user: user.into() },
            ReasonRef::UnknownFeature { feature } => Reason::UnknownFeature {
                feature: feature.into(),
            },
            ReasonRef::NotAReseller { user } => Reason::NotAReseller { user: user.into() },
            ReasonRef::RootOnly { user } => Reason::RootOnly { user: user.into() },
            ReasonRef::FullAccessRequired { user } => Reason::FullAccessRequired { user: user.into() },
            ReasonRef::UserSuspended { user } => Reason::UserSuspended { user: user.into() },
            ReasonRef::PrivilegeMissing {
                user,
                any_of,
                token_restricted,
            } => Reason::PrivilegeMissing {
                user: user.into(),
                any_of: Arc::clone(any_of),
                token_restricted,
            },
            ReasonRef::SettingDisabled { setting } => Reason::SettingDisabled {
                setting: CompactString::const_new(setting.key),
            },
            ReasonRef::Plugin(reason) => reason.clone(),
        }
    }
}

/// The same JSON as the owned [`Reason`] it stands for (`{"code": …, …}`), written without building it.
impl serde::Serialize for ReasonRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (field, value) = match *self {
            ReasonRef::Plugin(reason) => return reason.serialize(serializer),
            ReasonRef::UnknownUser { user } => ("user", user),
            ReasonRef::UnknownFeature { feature } => ("feature", feature),
            ReasonRef::NotAReseller { user }
            | ReasonRef::RootOnly { user }
            | ReasonRef::FullAccessRequired { user }
            | ReasonRef::UserSuspended { user } => ("user", user),
            ReasonRef::SettingDisabled { setting } => ("setting", setting.key),
            ReasonRef::PrivilegeMissing {
                user,
                any_of,
                token_restricted,
            } => {
                let mut s = serializer.serialize_struct("Reason", 3 + usize::from(token_restricted))?;
                s.serialize_field("code", self.code())?;
                s.serialize_field("user", user)?;
                s.serialize_field("any_of", &**any_of)?;
                if token_restricted {
                    s.serialize_field("token_restricted", &true)?;
                }
                return s.end();
            }
        };
        let mut s = serializer.serialize_struct("Reason", 2)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field(field, value)?;
        s.end()
    }
}

impl fmt::Display for ReasonRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReasonRef::UnknownUser { user } => text::unknown_user(f, user),
            ReasonRef::UnknownFeature { feature } => text::unknown_feature(f, feature),
            ReasonRef::NotAReseller { user } => text::not_a_reseller(f, user),
            ReasonRef::RootOnly { user } => text::root_only(f, user),
            ReasonRef::FullAccessRequired { user } => text::full_access_required(f, user),
            ReasonRef::UserSuspended { user } => text::user_suspended(f, user),
            ReasonRef::PrivilegeMissing {
                user,
                any_of,
                token_restricted,
            } => text::privilege_missing(f, user, any_of.iter().map(CompactString::as_str), token_restricted),
            ReasonRef::SettingDisabled { setting } => text::setting_disabled(f, setting.label, setting.key),
            ReasonRef::Plugin(reason) => reason.fmt(f),
        }
    }
}

/// The text of each reason, written once for [`Reason`] and [`ReasonRef`] alike.
mod text {
    use std::fmt::{Formatter, Result};

    pub fn unknown_user(f: &mut Formatter<'_>, user: &str) -> Result {
        write!(f, "\"{user}\" is not a user on this server")
    }

    pub fn unknown_feature(f: &mut Formatter<'_>, feature: &str) -> Result {
        write!(f, "no loaded plugin provides the feature \"{feature}\"")
    }

    pub fn not_a_reseller(f: &mut Formatter<'_>, user: &str) -> Result {
        write!(f, "{user} is a cPanel account, not a reseller, so it has no WHM access")
    }

    pub fn root_only(f: &mut Formatter<'_>, user: &str) -> Result {
        write!(
            f,
            "only root uses this feature, and {user} is a reseller (holding \"all\" does not make it root)"
        )
    }

    pub fn full_access_required(f: &mut Formatter<'_>, user: &str) -> Result {
        write!(
            f,
            "only a credential with all of {user}'s privileges uses this feature; this API token or session is limited to a list"
        )
    }

    pub fn user_suspended(f: &mut Formatter<'_>, user: &str) -> Result {
        write!(
            f,
            "{user} is suspended on this server: WHM refuses its logins, API tokens and access keys until it is unsuspended"
        )
    }

    pub fn privilege_missing<'a>(
        f: &mut Formatter<'_>,
        user: &str,
        any_of: impl Iterator<Item = &'a str>,
        token_restricted: bool,
    ) -> Result {
        if token_restricted {
            write!(f, "the API token {user} used does not carry any of the privileges ")?;
        } else {
            write!(f, "{user} holds none of the privileges ")?;
        }
        for (i, name) in any_of.enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        if token_restricted {
            f.write_str(" (nor \"all\")")
        } else {
            f.write_str(" (nor \"all\"); grant one in Edit Reseller Nameservers and Privileges")
        }
    }

    pub fn setting_disabled(f: &mut Formatter<'_>, label: &str, setting: &str) -> Result {
        write!(
            f,
            "the Tweak Setting \"{label}\" ({setting}) is Off; turn it on in Tweak Settings » Security"
        )
    }

    pub fn plugin_faulted(f: &mut Formatter<'_>, plugin: &str, detail: &str) -> Result {
        write!(f, "the plugin \"{plugin}\" faulted and is isolated: {detail}")
    }

    pub fn plugin_incompatible(f: &mut Formatter<'_>, plugin: &str, detail: &str) -> Result {
        write!(f, "the plugin \"{plugin}\" could not be loaded: {detail}")
    }
}

/// What, about the user alone, keeps a feature hidden.
enum UserFailure {
    Unknown,
    Suspended,
    NotAReseller,
    RootOnly,
    PrivilegeMissing,
    FullAccessRequired,
}

/// The user's and credential's part of the rule: root or a reseller (root alone for a root-only feature), holding
/// `all` or one of the ACLs, with a full-access credential where the feature needs one. Shared by the fast path and
/// the explanation, so they cannot disagree.
fn user_failure(who: Option<Who>, rule: &FeatureRule, full_access: bool) -> Option<UserFailure> {
    let Some(who) = who else {
        return Some(UserFailure::Unknown);
    };
    match (who.kind, who.privileges) {
        _ if who.suspended => Some(UserFailure::Suspended),
        (UserKind::Account, _) => Some(UserFailure::NotAReseller),
        (UserKind::Reseller, _) if rule.root_only => Some(UserFailure::RootOnly),
        (UserKind::Root | UserKind::Reseller, privileges) => {
            if !rule.needed.is_empty() && !privileges.check_any(rule.needed) {
                Some(UserFailure::PrivilegeMissing)
            } else if rule.full_access && !full_access {
                Some(UserFailure::FullAccessRequired)
            } else {
                None
            }
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
[resellers.sam]
privileges = ["all"]
[accounts.dave]
owner = "bob"
"#
        );
        let mut config = Config::parse(&text, Path::new("t.toml")).unwrap();
        // sam is suspended, as a real server's files say it (a TOML config cannot).
        let sam = Username::new("sam").unwrap();
        config.users.resellers.get_mut(&sam).unwrap().suspended = Some("Abuse".into());
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
            (true, "sam", &["USER_SUSPENDED"]),
            (false, "root", &["SETTING_DISABLED"]),
            (false, "carol", &["SETTING_DISABLED"]),
            (false, "bob", &["SETTING_DISABLED"]),
            (false, "erin", &["PRIVILEGE_MISSING", "SETTING_DISABLED"]),
            (false, "empty", &["PRIVILEGE_MISSING", "SETTING_DISABLED"]),
            (false, "dave", &["NOT_A_RESELLER", "SETTING_DISABLED"]),
            (false, "nobody", &["UNKNOWN_USER", "SETTING_DISABLED"]),
            (false, "sam", &["USER_SUSPENDED", "SETTING_DISABLED"]),
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
            let e = s.explain(user, "remote-access-key");
            assert_eq!(e.visible(), d.visible, "explanation disagrees for {user}");
            assert_eq!(e.reasons().map(|r| r.code()).collect::<Vec<_>>(), *codes, "{user}");
            assert_eq!(e.to_decision(), d, "{user}");
        }
    }

    /// The borrowed reasons read exactly as the owned ones, for every kind of reason.
    #[test]
    fn borrowed_reasons_match_owned_ones() {
        let mut faulty = remote_access_key();
        faulty.fault = Some(Reason::PluginIncompatible {
            plugin: "remote-access-key".into(),
            detail: "wrong ABI version".into(),
        });
        let off = snapshot(false);
        let s = Snapshot::compile(off.config().clone(), vec![remote_access_key(), faulty]);
        let root = s.user_id("root").unwrap();
        let limited =
            AclSet::EVERYTHING.limit_by_token(Some(AclSet::from_acls([Acl::from_name("list-accts").unwrap()])));
        let mut seen = std::collections::BTreeSet::new();
        for user in ["root", "bob", "erin", "dave", "nobody", "sam"] {
            for feature in ["remote-access-key", "nope"] {
                let explanations = [
                    s.explain(user, feature),
                    s.explain_with_privileges(root, feature, limited),
                ];
                for e in explanations {
                    let borrowed: Vec<(&str, String)> = e.reasons().map(|r| (r.code(), r.to_string())).collect();
                    let owned: Vec<(&str, String)> = e
                        .reasons()
                        .map(|r| r.to_reason())
                        .map(|r| (r.code(), r.to_string()))
                        .collect();
                    assert_eq!(borrowed, owned, "{user} {feature}");
                    let as_json = |v: Result<serde_json::Value, serde_json::Error>| v.expect("JSON");
                    let borrowed_json: Vec<_> = e.reasons().map(|r| as_json(serde_json::to_value(r))).collect();
                    let owned_json: Vec<_> = e
                        .reasons()
                        .map(|r| as_json(serde_json::to_value(r.to_reason())))
                        .collect();
                    assert_eq!(borrowed_json, owned_json, "{user} {feature}");
                    seen.extend(borrowed.into_iter().map(|(code, _)| code));
                }
            }
        }
        let d = s.decide_with_privileges(root, "remote-access-key", limited);
        assert!(matches!(
            d.reasons[0],
            Reason::PrivilegeMissing {
                token_restricted: true,
                ..
            }
        ));
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [
                "NOT_A_RESELLER",
                "PRIVILEGE_MISSING",
                "SETTING_DISABLED",
                "UNKNOWN_FEATURE",
                "UNKNOWN_USER",
                "USER_SUSPENDED"
            ]
        );
        let faulty = Snapshot::compile(s.config().clone(), vec![s.features()[1].clone()]);
        let e = faulty.explain("root", "remote-access-key");
        assert_eq!(
            e.reasons().map(|r| r.to_string()).collect::<Vec<_>>(),
            e.to_decision()
                .reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        );
    }

    /// Features are found by name whether they are few (compared) or many (indexed); the first of a name wins.
    #[test]
    fn features_are_found_by_name_few_or_many() {
        let config = snapshot(true).config().clone();
        for count in [1, FEATURES_SCANNED, FEATURES_SCANNED + 1, 40] {
            let mut features: Vec<FeatureSpec> = (0..count)
                .map(|i| FeatureSpec {
                    id: format!("feature-{i}"),
                    ..remote_access_key()
                })
                .collect();
            features.push(FeatureSpec {
                title: "Duplicate".into(),
                ..features[0].clone()
            });
            let s = Snapshot::compile(config.clone(), features);
            for i in 0..count {
                let id = s.feature_id(&format!("feature-{i}")).unwrap();
                assert_eq!(s.feature(id).id, format!("feature-{i}"));
            }
            assert_eq!(s.feature(s.feature_id("feature-0").unwrap()).title, "Remote Access Key");
            assert_eq!(s.feature_id("feature"), None);
            assert_eq!(s.decide("root", "missing").codes(), ["UNKNOWN_FEATURE"]);
        }
    }

    /// Only the exact name finds a user: no NUL-padded, over-long or differently cased look-alike.
    #[test]
    fn names_are_found_exactly() {
        let s = snapshot(true);
        assert!(s.user_id("bob").is_some());
        for other in [
            "bob\0",
            "\0bob",
            "Bob",
            "bob ",
            "",
            "bo",
            "bobb",
            "abcdefghijklmnopq",
            "root\0\0",
        ] {
            assert_eq!(s.user_id(other), None, "{other:?}");
        }
        assert!(s.user_id("root").is_some());
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
