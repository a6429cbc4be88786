//! Who is asking and what they may do: the one [`Caller`] of a request, its effective privileges, and the
//! [`Authorized`] proof that only [`Caller::authorize`] makes.
//!
//! The rule: a credential never yields more than it holds. A caller's privileges are the user's ACLs narrowed by the
//! API token's list (or by the grant of the session), and everything the request does is bounded by that set: the
//! operations it runs, the tokens it creates, the sessions it opens, the keys it reads or generates.

pub mod header;
pub mod whm_tree;

use std::fmt;
use std::net::IpAddr;

use serde_json::{Map, Value, json};
use settings::{AclSet, Decision, Snapshot, UserId, UserKind, Username};

use crate::store::sessions::Grant;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    AccessKey,
    ApiToken {
        name: String,
    },
    Password,
    /// A browser session (or a security token in the URL): `grant` says who opened it, how, and with what limit.
    Session {
        security_token: String,
        grant: Grant,
    },
    /// The command line, run by the server's administrator.
    CommandLine,
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthMethod::AccessKey => f.write_str("access key"),
            AuthMethod::ApiToken { name } => write!(f, "API token \"{}\"", name.escape_debug()),
            AuthMethod::Password => f.write_str("password"),
            AuthMethod::Session { grant, .. } => {
                write!(f, "session opened by {} with {}", grant.opened_by, grant.opened_with)
            }
            AuthMethod::CommandLine => f.write_str("command line"),
        }
    }
}

/// An authenticated caller and the privileges this request carries.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Whom the request acts as.
    pub user: Username,
    pub id: UserId,
    pub kind: UserKind,
    /// The effective set: the user's ACLs, narrowed by the token's list or the session's grant.
    pub privileges: AclSet,
    /// The credential carries every privilege of its user, now and after any later grant: it has no ACL list, or a
    /// list holding `all`. Only such a credential may read or generate an access key, which is itself a full-access
    /// credential.
    pub full_access: bool,
    pub method: AuthMethod,
    /// The client's address.
    pub source: IpAddr,
}

/// Proof that a caller may use one gate feature, made only by [`Caller::authorize`]: typed operations and pages take
/// it, so nothing runs on a decision that was not made.
#[derive(Debug, Clone, Copy)]
pub struct Authorized<'a> {
    caller: &'a Caller,
    feature: &'a str,
}

impl<'a> Authorized<'a> {
    pub fn caller(&self) -> &'a Caller {
        self.caller
    }

    /// The feature this authorization is for.
    pub fn feature(&self) -> &'a str {
        self.feature
    }
}

impl std::ops::Deref for Authorized<'_> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        self.caller
    }
}

impl Caller {
    /// A caller with `privileges` for `user`, who must be in the snapshot.
    pub fn new(
        snapshot: &Snapshot,
        user: &Username,
        limit: Option<AclSet>,
        method: AuthMethod,
        source: IpAddr,
    ) -> Option<Caller> {
        let id = snapshot.user_id(user.as_str())?;
        let base = snapshot.privileges(id);
        let privileges = base.limit_by_token(limit);
        Some(Caller {
            user: user.clone(),
            id,
            kind: snapshot.user_kind(id),
            privileges,
            // A list narrows the credential even while it holds every ACL the user has today: later grants must not
            // reach it, and it reads no key. Only no list, or a list holding `all`, is the user's full access.
            full_access: limit.is_none_or(AclSet::has_all),
            method,
            source,
        })
    }

    /// Root on the command line: the administrator of the server, with every privilege.
    pub fn command_line(snapshot: &Snapshot) -> Caller {
        Caller::new(
            snapshot,
            &Username::root(),
            None,
            AuthMethod::CommandLine,
            IpAddr::from([127, 0, 0, 1]),
        )
        .expect("every snapshot has root")
    }

    /// The gate's decision for this caller: the same evaluation that decides visibility.
    pub fn decide(&self, snapshot: &Snapshot, feature: &str) -> Decision {
        snapshot.decide_for(self.id, feature, self.privileges, self.full_access)
    }

    /// Authorizes one feature, or says why not.
    pub fn authorize<'a>(&'a self, snapshot: &Snapshot, feature: &'a str) -> Result<Authorized<'a>, Decision> {
        let decision = self.decide(snapshot, feature);
        if decision.visible {
            Ok(Authorized { caller: self, feature })
        } else {
            Err(decision)
        }
    }

    pub fn is_root(&self) -> bool {
        self.kind == UserKind::Root
    }

    /// The person really acting: for a session, whoever opened it.
    pub fn actor(&self) -> &Username {
        match &self.method {
            AuthMethod::Session { grant, .. } => &grant.opened_by,
            _ => &self.user,
        }
    }

    /// How the real actor authenticated, as the audit log names it.
    pub fn credential(&self) -> String {
        match &self.method {
            AuthMethod::Session { security_token, grant } => {
                format!("session {security_token} opened with {}", grant.opened_with)
            }
            other => other.to_string(),
        }
    }

    /// The most a credential this caller creates (an API token, a session) may carry: `None` means the full set of
    /// the user it is for, which only a full-access caller may hand out.
    pub fn delegable(&self) -> Option<AclSet> {
        (!self.full_access).then_some(self.privileges)
    }

    /// What a session opened by this caller records about its origin.
    pub fn grant_for(&self, user: &Username, limit: Option<AclSet>) -> Grant {
        let opened_with = match &self.method {
            AuthMethod::Session { grant, .. } => grant.opened_with.clone(),
            other => other.to_string(),
        };
        Grant::new(user.clone(), limit, self.actor().clone(), opened_with)
    }

    /// The fields every audit entry about this caller's actions carries: as whom, who really, how, from where.
    pub fn audit_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("user".into(), json!(self.user));
        m.insert("actor".into(), json!(self.actor()));
        m.insert("auth".into(), json!(self.credential()));
        m.insert("source".into(), json!(self.source.to_string()));
        m
    }

    /// `fields` with the caller added: `actor`, `auth` and `source` are always the real ones (a plugin or an operation
    /// cannot name someone else); `user` is the caller's unless the event names the user it is about.
    pub fn audit_with(&self, fields: Value) -> Value {
        let mut m = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for (k, v) in self.audit_fields() {
            if k == "user" {
                m.entry(k).or_insert(v);
            } else {
                m.insert(k, v);
            }
        }
        Value::Object(m)
    }
}

/// The caller that the session layer or header authentication put on the request; 401 without one.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = axum::http::StatusCode;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Caller, axum::http::StatusCode> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(axum::http::StatusCode::UNAUTHORIZED)
    }
}
