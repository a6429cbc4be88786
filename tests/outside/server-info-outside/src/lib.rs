//! Server Uptime: the plugin of docs/plugins.md's guide, as an author outside the repository writes it.

#![forbid(unsafe_code)]

use plugin_abi::{Error, Feature, Host, Plugin, PluginInfo, Request, Response, Target};

pub struct ServerUptime;

impl Plugin for ServerUptime {
    fn describe() -> PluginInfo {
        PluginInfo::new("server-uptime", env!("CARGO_PKG_VERSION")).feature(
            Feature::new("example-uptime", "Server Uptime", "Server Status")
                .page("/example-uptime")
                .requires_any_acl(["status"])
                .api0_function("example_uptime"),
        )
    }

    fn handle(request: &Request, host: &Host<'_>) -> Result<Response, Error> {
        let seconds = uptime()?;
        Ok(match &request.target {
            Target::Api { function } => Response::whm_ok(function, &serde_json::json!({ "seconds": seconds })),
            Target::Page => {
                host.info("showing the uptime");
                Response::html(200, format!("<h2>Server Uptime</h2><p id=\"uptime\">{seconds} seconds</p>"))
            }
        })
    }
}

/// Seconds since boot, from `/proc/uptime`.
fn uptime() -> Result<u64, Error> {
    let text = std::fs::read_to_string("/proc/uptime")?;
    let first = text.split_whitespace().next().ok_or("/proc/uptime is empty")?;
    Ok(first.parse::<f64>()? as u64)
}

plugin_abi::export_plugin!(ServerUptime);
