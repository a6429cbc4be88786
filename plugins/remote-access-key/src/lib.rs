//! The Remote Access Key plugin: registers WHM's deprecated *Clusters » Remote Access Key* feature, its page and the
//! `accesshash` API function, visible only while `allow_deprecated_accesshash` is on and to users holding
//! `manage-api-tokens` (root and `all` pass).

#![forbid(unsafe_code)]

pub mod key_service;
pub mod page;

use plugin_abi::{Error, Feature, Host, Plugin, PluginInfo, Request, Response, Target};

use key_service::{Directory, FullAccess, User};

/// The plugin.
#[derive(Debug)]
pub struct RemoteAccessKey;

/// The feature's identifier, also its page path.
pub const FEATURE_ID: &str = "remote-access-key";

impl Plugin for RemoteAccessKey {
    fn describe() -> PluginInfo {
        PluginInfo::new("remote-access-key", env!("CARGO_PKG_VERSION")).feature(
            Feature::new(FEATURE_ID, "Remote Access Key", "Clusters")
                .page("/remote-access-key")
                .requires_any_acl(["manage-api-tokens"])
                .requires_setting("allow_deprecated_accesshash")
                // The key is a full-access credential: a narrowed token or session must not read or make one.
                .requires_full_access()
                .deprecated(64, "Manage API Tokens")
                .api_function("accesshash"),
        )
    }

    fn handle(request: &Request, host: &Host<'_>) -> Result<Response, Error> {
        Ok(match &request.target {
            Target::Api { function } if function == "accesshash" => api(request, host),
            Target::Api { function } => envelope::<()>(
                function,
                Err(format!(
                    "Unknown app (\"{function}\") requested for this version (1) of the API."
                )),
            ),
            Target::Page => page_response(request, host),
        })
    }
}

plugin_abi::export_plugin!(RemoteAccessKey);

/// WHM API 1's envelope, the host's one ([`plugin_abi::whm::Envelope`]).
fn envelope<T: serde::Serialize>(command: &str, result: Result<T, String>) -> Response {
    match &result {
        Ok(data) => Response::whm_ok(command, data),
        Err(reason) => Response::whm_error(command, reason),
    }
}

/// `accesshash`: `user` (defaults to the caller) and `generate` (a true word — `1`, `true`, `yes`, `on` — makes a new
/// key; a false one, or none, reads). The caller's own key is written into the answer as the host holds it, without a
/// copy here.
pub fn api(request: &Request, dir: &dyn Directory) -> Response {
    #[derive(serde::Serialize)]
    struct Data<'a> {
        accesshash: &'a str,
    }
    let generate = match request.flag("generate") {
        Some(Err(v)) => {
            return Response::whm_error(
                "accesshash",
                &format!(
                    "Invalid value for generate: \"{}\" is not a boolean (1/0, true/false, yes/no, on/off).",
                    v.escape_debug()
                ),
            );
        }
        generate => generate == Some(Ok(true)),
    };
    let answered = (|| {
        let full = FullAccess::check(request.full_access)?;
        let target = key_service::target(&request.user, request.param("user"), generate, dir)?;
        if generate {
            let key = key_service::generate(&target, &request.user.name, &request.source, dir, full)?;
            return Ok(Response::whm_ok(
                "accesshash",
                &Data {
                    accesshash: key.as_str(),
                },
            ));
        }
        key_service::with_key(&request.user, &target, dir, full, |key| {
            key.map(|accesshash| Response::whm_ok("accesshash", &Data { accesshash }))
                .ok_or_else(|| key_service::no_accesshash(&target.name))
        })?
    })();
    answered.unwrap_or_else(|reason: String| Response::whm_error("accesshash", &reason))
}

/// The `accesshash` logic: the key without line breaks, or WHM's error string.
/// `full_access` is [`Request::full_access`]: without it no key is read or generated, whoever's it is.
pub fn accesshash(
    caller: &User,
    user: Option<&str>,
    generate: bool,
    source: &str,
    full_access: bool,
    dir: &dyn Directory,
) -> Result<String, String> {
    let full = FullAccess::check(full_access)?;
    let target = key_service::target(caller, user, generate, dir)?;
    if generate {
        return key_service::generate(&target, &caller.name, source, dir, full).map(|k| k.as_str().to_owned());
    }
    key_service::with_key(caller, &target, dir, full, |key| key.map(str::to_owned))?
        .ok_or_else(|| key_service::no_accesshash(&target.name))
}

fn page_response(request: &Request, dir: &dyn Directory) -> Response {
    let caller = &request.user;
    let mut view = page::View {
        security_token: &request.security_token,
        csrf_token: &request.csrf_token,
        target: None,
        key_text: None,
        first_key: false,
        signature: None,
        can_pick: caller.is_root(),
        notice: None,
        error: None,
    };
    let generating = request.is_post() && matches!(request.flag("generate"), Some(Ok(true)));
    // A limited credential is refused before the user is even looked up, as in `accesshash`.
    let checked = FullAccess::check(request.full_access)
        .and_then(|full| key_service::target(caller, request.param("user"), generating, dir).map(|t| (full, t)));
    let (full, target) = match checked {
        Ok(t) => t,
        Err(e) => {
            view.error = Some(e);
            return Response::html(200, page::render(&view));
        }
    };
    let name = target.name.clone();
    view.target = Some(&name);
    let key = if generating {
        match key_service::generate(&target, &caller.name, &request.source, dir, full) {
            Ok(k) => {
                view.notice = Some("A new access key was generated. The previous key no longer works.".into());
                Some(k)
            }
            Err(e) => {
                view.error = Some(e);
                key_service::read(caller, &target, dir, full).ok().flatten()
            }
        }
    } else {
        match key_service::read(caller, &target, dir, full) {
            Ok(None) => {
                view.first_key = true;
                None
            }
            Ok(k) => k,
            Err(e) => {
                view.error = Some(e);
                None
            }
        }
    };
    if let Some(k) = key {
        view.key_text = Some(k.to_file_text());
        view.signature = Some(k.signature().to_string());
    }
    Response::html(200, page::render(&view))
}
