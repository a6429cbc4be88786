//! WHM's *API Shell* as a plugin, and the worked example of `docs/plugins.md`: built only on the public ABI.
//!
//! WHM shows the API Shell only while the Tweak Setting `api_shell` is on, and only to root and holders of `all`.
//! Its page calls WHM API 1 functions through the host (`Host::call_api`), which runs them as the logged-in user
//! with no more privilege than their request carries, and shows the answer.

#![forbid(unsafe_code)]

use maud::html;
use plugin_abi::{Error, Feature, Host, Plugin, PluginInfo, Request, Response, Target};

/// The plugin.
#[derive(Debug)]
pub struct ApiShell;

/// The feature's identifier, also its page path.
pub const FEATURE_ID: &str = "api-shell";

impl Plugin for ApiShell {
    fn describe() -> PluginInfo {
        PluginInfo::new("api-shell", env!("CARGO_PKG_VERSION")).feature(
            Feature::new(FEATURE_ID, "API Shell", "Development")
                .page("/api-shell")
                .requires_any_acl(["all"])
                .requires_setting("api_shell"),
        )
    }

    fn handle(request: &Request, host: &Host<'_>) -> Result<Response, Error> {
        Ok(match request.target {
            Target::Page => Response::html(200, page(request, host)),
            Target::Api { .. } => {
                Response::json(404, &serde_json::json!({"error": "the API Shell has no API function"}))
            }
        })
    }
}

plugin_abi::export_plugin!(ApiShell);

/// `key=value` lines (blank lines and `#` comments skipped) as WHM API parameters.
pub fn parse_params(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("\"{l}\" is not key=value"))
        })
        .collect()
}

/// The functions the caller may call, from the host's own `applist`.
fn functions(host: &Host<'_>) -> Vec<String> {
    host.call_api("applist", &[])
        .ok()
        .and_then(|v| {
            v["data"]["app"]
                .as_array()
                .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect())
        })
        .unwrap_or_default()
}

fn page(request: &Request, host: &Host<'_>) -> String {
    let function = request.param("function").unwrap_or("version").to_owned();
    let params_text = request.param("params").unwrap_or_default().to_owned();
    let answer: Option<Result<String, String>> = request.is_post().then(|| {
        let params = parse_params(&params_text)?;
        let mut all = vec![("api.version".to_owned(), "1".to_owned())];
        all.extend(params);
        let v = host.call_api(&function, &all)?;
        serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
    });
    let functions = functions(host);
    html! {
        p {
            "Calls WHM API 1 as " b { (request.user.name) } ", with the privileges of this session. "
            "Each call is what a script would send to " code { (request.security_token) "/json-api/<function>?api.version=1" } "."
        }
        form #shell method="post" action={ (request.security_token) "/api-shell" } {
            input type="hidden" name="csrf_token" value=(request.csrf_token);
            p {
                label {
                    "Function "
                    select #function name="function" {
                        @for f in &functions {
                            option value=(f) selected[*f == function] { (f) }
                        }
                    }
                }
            }
            p {
                label {
                    "Parameters, one key=value per line" br;
                    textarea #params name="params" rows="5" cols="60" { (params_text) }
                }
            }
            p { button #call type="submit" { "Call" } }
        }
        @match &answer {
            Some(Ok(json)) => { h2 { "Answer" } pre #answer { (json) } },
            Some(Err(e)) => { p.error #error { (e) } },
            None => {},
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_key_value_lines() {
        assert_eq!(
            parse_params("key = allow_deprecated_accesshash\n\n# a comment\nvalue=1").unwrap(),
            vec![
                ("key".to_owned(), "allow_deprecated_accesshash".to_owned()),
                ("value".to_owned(), "1".to_owned())
            ]
        );
        assert!(parse_params("no equals sign").unwrap_err().contains("not key=value"));
        assert!(parse_params("=value").is_err());
    }
}
