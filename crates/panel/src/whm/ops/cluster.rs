//! `add_configclusterserver`, `update_configclusterserver`, `delete_configclusterserver` and
//! `list_configclusterservers`: the Configuration Cluster's members, for root alone, listed by signature and never by
//! credential.

use axum::http::StatusCode;
use serde::{Serialize, Serializer};
use serde_json::json;

use crate::auth::Authorized;
use crate::cluster::{MemberCredential, MemberView};
use crate::features::CONFIGURATION_CLUSTER;
use crate::whm::{Ctx, FromParams, List, Operation, Params, WhmError};

pub const ROOT_ONLY: &str =
    "Access denied: only root, with a full-access credential, manages the Configuration Cluster.";

/// The cluster holds root-level credentials of other servers: root itself, not a holder of `all`, and not a
/// credential narrowed by a list.
pub fn require_root(auth: &Authorized<'_>) -> Result<(), WhmError> {
    if auth.is_root() && auth.full_access {
        Ok(())
    } else {
        Err(WhmError::new(ROOT_ONLY).with_status(StatusCode::FORBIDDEN))
    }
}

/// `add_configclusterserver`: `name`, `user` (default `root`), `key`, optional `fingerprint` (the certificate's
/// SHA-256 fingerprint confirmed by whoever adds it).
#[derive(Debug, Clone)]
pub struct NewServer {
    pub name: String,
    pub user: String,
    pub credential: MemberCredential,
    pub fingerprint: Option<String>,
}

impl FromParams for NewServer {
    fn from_params(p: &Params) -> Result<NewServer, WhmError> {
        Ok(NewServer {
            name: p.require("name")?.to_owned(),
            user: p.get("user").filter(|u| !u.is_empty()).unwrap_or("root").to_owned(),
            credential: MemberCredential::parse(p.require("key")?).map_err(WhmError::new)?,
            fingerprint: p.get("fingerprint").map(str::to_owned),
        })
    }
}

/// `update_configclusterserver`: `name`, optional `key`, optional `user`.
#[derive(Debug, Clone)]
pub struct ServerUpdate {
    pub name: String,
    pub user: Option<String>,
    pub credential: Option<MemberCredential>,
}

impl FromParams for ServerUpdate {
    fn from_params(p: &Params) -> Result<ServerUpdate, WhmError> {
        Ok(ServerUpdate {
            name: p.require("name")?.to_owned(),
            user: p.get("user").filter(|u| !u.is_empty()).map(str::to_owned),
            credential: p
                .get("key")
                .filter(|k| !k.trim().is_empty())
                .map(MemberCredential::parse)
                .transpose()
                .map_err(WhmError::new)?,
        })
    }
}

/// A member by `name`.
#[derive(Debug, Clone)]
pub struct ServerName(pub String);

impl FromParams for ServerName {
    fn from_params(p: &Params) -> Result<ServerName, WhmError> {
        Ok(ServerName(p.require("name")?.to_owned()))
    }
}

#[derive(Debug, Serialize)]
pub struct Server {
    pub server: MemberView,
}

/// `list_configclusterservers`' `data`: an object keyed by member name, each member's `user` and `signature` (and
/// Tweakgate's own fields beside them), as WHM answers; never a list.
#[derive(Debug)]
pub struct Servers {
    pub servers: Vec<MemberView>,
}

impl Serialize for Servers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.servers.iter().map(|m| (&m.name, m)))
    }
}

fn audit(ctx: Ctx<'_>, auth: &Authorized<'_>, event: &str, v: &MemberView) {
    let fields = auth.audit_with(json!({"server": v.url, "member_user": v.user, "signature": v.signature,
        "certificate_fingerprint": v.certificate_fingerprint}));
    if let Err(e) = ctx.panel.audit.record(event, fields) {
        tracing::error!("cannot write the audit log: {e}");
    }
}

#[derive(Debug)]
pub struct AddConfigClusterServer;

impl Operation for AddConfigClusterServer {
    const WRITES: bool = true;
    const NAME: &'static str = "add_configclusterserver";
    const FEATURE: &'static str = CONFIGURATION_CLUSTER;
    type Params = NewServer;
    type Output = Server;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, new: NewServer) -> Result<Server, WhmError> {
        require_root(&auth)?;
        let server = ctx
            .panel
            .cluster
            .add(&new.name, &new.user, new.credential, new.fingerprint.as_deref())
            .map_err(WhmError::new)?;
        audit(ctx, &auth, "cluster_server_added", &server);
        Ok(Server { server })
    }
}

#[derive(Debug)]
pub struct UpdateConfigClusterServer;

impl Operation for UpdateConfigClusterServer {
    const WRITES: bool = true;
    const NAME: &'static str = "update_configclusterserver";
    const FEATURE: &'static str = CONFIGURATION_CLUSTER;
    type Params = ServerUpdate;
    type Output = Server;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, u: ServerUpdate) -> Result<Server, WhmError> {
        require_root(&auth)?;
        let server = ctx
            .panel
            .cluster
            .update(&u.name, u.user.as_deref(), u.credential)
            .map_err(WhmError::new)?;
        audit(ctx, &auth, "cluster_server_updated", &server);
        Ok(Server { server })
    }
}

#[derive(Debug)]
pub struct DeleteConfigClusterServer;

impl Operation for DeleteConfigClusterServer {
    const WRITES: bool = true;
    const NAME: &'static str = "delete_configclusterserver";
    const FEATURE: &'static str = CONFIGURATION_CLUSTER;
    type Params = ServerName;
    /// Metadata only.
    type Output = ();

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, ServerName(name): ServerName) -> Result<(), WhmError> {
        require_root(&auth)?;
        let server = ctx.panel.cluster.remove(&name).map_err(WhmError::new)?;
        audit(ctx, &auth, "cluster_server_removed", &server);
        Ok(())
    }
}

#[derive(Debug)]
pub struct ListConfigClusterServers;

impl Operation for ListConfigClusterServers {
    const NAME: &'static str = "list_configclusterservers";
    const FEATURE: &'static str = CONFIGURATION_CLUSTER;
    /// `data` itself is the object keyed by member name: it stays one, holding the members kept.
    const LIST: Option<List> = Some(List::Data);
    type Params = ();
    type Output = Servers;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, (): ()) -> Result<Servers, WhmError> {
        require_root(&auth)?;
        Ok(Servers {
            servers: ctx.panel.cluster.list(),
        })
    }
}
