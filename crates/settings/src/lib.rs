//! The settings core: WHM Tweak Settings, reseller privileges (ACLs), users, and the feature gate that explains itself.
//!
//! Text goes in (TOML or cPanel's native files) and typed values come out.
//! This crate does no networking and contains no `unsafe`.

#![forbid(unsafe_code)]

pub mod acl;
pub mod config;
pub mod gate;
pub mod native;
pub mod schema;
pub mod server;
pub mod suggest;
pub mod tweak;
pub mod username;
pub mod users;

pub use acl::{Acl, AclSet};
pub use config::{Config, ConfigError, Isolation, MAX_FILE_BYTES, PluginEntry, ServerConfig, Sources};
pub use gate::{
    Decision, Explanation, FeatureId, FeatureSpec, Gate, Reason, ReasonRef, Requirements, Snapshot, UserId,
};
pub use schema::{Section, SettingDef, SettingKind};
pub use tweak::TweakSettings;
pub use username::Username;
pub use users::{UserKind, Users};
