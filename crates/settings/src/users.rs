//! Root, resellers with their privileges, and ordinary cPanel accounts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::acl::AclSet;
use crate::username::Username;

/// The error for a config or `resellers` file that lists root among the resellers.
pub const ROOT_IS_NOT_A_RESELLER: &str = "root is not a reseller: it always holds every privilege";

/// What kind of user a name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    Root,
    Reseller,
    /// An ordinary cPanel account: not a reseller, no WHM privileges.
    Account,
}

/// A reseller and the ACLs WHM grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseller {
    pub name: Username,
    pub privileges: AclSet,
    /// ACL names from third-party software that the catalogue does not know, kept so rewriting a file loses nothing.
    pub additional: BTreeSet<String>,
    pub home: Option<PathBuf>,
    pub password_hash: Option<String>,
    /// `Some(reason)` when the reseller's own account is suspended on a real server (`[sources] whm_root`): WHM
    /// refuses its logins, tokens and keys, so the gate shows it nothing (`USER_SUSPENDED`).
    pub suspended: Option<String>,
}

/// An ordinary cPanel account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: Username,
    pub owner: Username,
    pub home: Option<PathBuf>,
    pub password_hash: Option<String>,
    /// What `listaccts` and `accountsummary` show of it.
    pub details: AccountDetails,
}

/// An account's main domain, package, contact and suspension, as the TOML config may give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDetails {
    pub domain: Option<String>,
    pub plan: Option<String>,
    pub contact_email: Option<String>,
    /// `Some(reason)` when suspended.
    pub suspended: Option<String>,
}

/// Root's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Root {
    pub home: Option<PathBuf>,
    pub password_hash: Option<String>,
}

/// Everyone the panel knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    pub root: Root,
    pub resellers: BTreeMap<Username, Reseller>,
    pub accounts: BTreeMap<Username, Account>,
}

impl Users {
    pub fn kind(&self, user: &Username) -> Option<UserKind> {
        if user.is_root() {
            Some(UserKind::Root)
        } else if self.resellers.contains_key(user) {
            Some(UserKind::Reseller)
        } else if self.accounts.contains_key(user) {
            Some(UserKind::Account)
        } else {
            None
        }
    }

    /// The ACLs a user holds: everything for root, the list for a reseller, nothing for an account.
    pub fn privileges(&self, user: &Username) -> Option<AclSet> {
        match self.kind(user)? {
            UserKind::Root => Some(AclSet::EVERYTHING),
            UserKind::Reseller => Some(self.resellers[user].privileges),
            UserKind::Account => Some(AclSet::EMPTY),
        }
    }

    /// The configured home directory, if one was set.
    pub fn home(&self, user: &Username) -> Option<&PathBuf> {
        match self.kind(user)? {
            UserKind::Root => self.root.home.as_ref(),
            UserKind::Reseller => self.resellers[user].home.as_ref(),
            UserKind::Account => self.accounts[user].home.as_ref(),
        }
    }

    /// The password hash (PHC string), if one was set.
    pub fn password_hash(&self, user: &Username) -> Option<&str> {
        match self.kind(user)? {
            UserKind::Root => self.root.password_hash.as_deref(),
            UserKind::Reseller => self.resellers[user].password_hash.as_deref(),
            UserKind::Account => self.accounts[user].password_hash.as_deref(),
        }
    }

    /// Root, then resellers, then accounts, each sorted.
    pub fn all(&self) -> impl Iterator<Item = (Username, UserKind)> + '_ {
        std::iter::once((Username::root(), UserKind::Root))
            .chain(self.resellers.keys().map(|u| (u.clone(), UserKind::Reseller)))
            .chain(self.accounts.keys().map(|u| (u.clone(), UserKind::Account)))
    }
}
