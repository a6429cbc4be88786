//! `applist`, `version` and `myprivs`: what the caller may call, which WHM this is, and which privileges it holds.

use serde::Serialize;
use serde_json::{Map, Value, json};
use settings::Acl;

use crate::auth::Authorized;
use crate::features::WHM;
use crate::whm::{Api0, Ctx, List, Operation, WhmError};

/// The WHM version Tweakgate's API answers to.
pub const WHM_VERSION: &str = "11.134.0.0";

#[derive(Debug)]
pub struct Applist;

#[derive(Debug, Serialize)]
pub struct Apps {
    pub app: Vec<String>,
}

impl Operation for Applist {
    const NAME: &'static str = "applist";
    const FEATURE: &'static str = WHM;
    /// A list of names: each record's one return is `app`.
    const LIST: Option<List> = Some(List::Under("app"));
    /// API 0: only the functions API 0 serves (API-1-only functions, and plugins' functions without an API 0 form,
    /// are left out).
    const API0: Api0 = Api0::ShapeIn(|ctx, mut data| {
        if let Some(apps) = data["app"].as_array_mut() {
            apps.retain(|f| f.as_str().is_some_and(|f| crate::whm::api0_serves(ctx, f)));
        }
        data
    });
    type Params = ();
    type Output = Apps;

    fn run(ctx: Ctx<'_>, auth: Authorized<'_>, (): ()) -> Result<Apps, WhmError> {
        Ok(Apps {
            app: crate::whm::applist(ctx, auth.caller()),
        })
    }
}

#[derive(Debug)]
pub struct Version;

impl Operation for Version {
    const NAME: &'static str = "version";
    const FEATURE: &'static str = WHM;
    const API0: Api0 = Api0::Data;
    type Params = ();
    type Output = VersionData;

    fn run(_: Ctx<'_>, _: Authorized<'_>, (): ()) -> Result<VersionData, WhmError> {
        Ok(VersionData { version: WHM_VERSION })
    }
}

/// `version`'s data.
#[derive(Debug, Serialize)]
pub struct VersionData {
    pub version: &'static str,
}

#[derive(Debug)]
pub struct Myprivs;

impl Operation for Myprivs {
    const NAME: &'static str = "myprivs";
    const FEATURE: &'static str = WHM;
    /// API 0: `{"privs":{…}}`.
    const API0: Api0 = Api0::Shape(|mut data| json!({"privs": data["privileges"][0].take()}));
    /// WHM's list of one record, `{"<acl>":0|1,…}`.
    const LIST: Option<List> = Some(List::Under("privileges"));
    type Params = ();
    type Output = Value;

    /// The privileges this request carries: a token or session limited to some ACLs reports only those.
    /// Root-level access (`all`) is reported as WHM does: `all` 1 and every other ACL 0.
    fn run(_: Ctx<'_>, auth: Authorized<'_>, (): ()) -> Result<Value, WhmError> {
        let held = auth.privileges;
        let privs: Map<String, Value> = Acl::iter()
            .map(|a| {
                let on = if held.has_all() {
                    a == Acl::ALL
                } else {
                    held.contains(a)
                };
                (a.name().to_owned(), json!(u8::from(on)))
            })
            .collect();
        Ok(json!({"privileges": [privs]}))
    }
}
