//! WHM's *Server Information* as a plugin, written on the public ABI alone as an outside author would write it: a page
//! with the host name, uptime and load averages, and the WHM API 1 functions `systemloadavg` and `gethostname`, each
//! also in its legacy API 0 form, shown to and callable by root and holders of the `status` ACL.
//!
//! The page also answers its own script: a POST whose JSON body names the fields it wants gets them back as JSON
//! (served as its own document, not inside the panel's layout).

#![forbid(unsafe_code)]

use maud::html;
use plugin_abi::{Error, Feature, Host, Plugin, PluginInfo, Request, Response, Target};
use serde_json::{Value, json};

/// The plugin.
#[derive(Debug)]
pub struct ServerInfo;

/// The feature's identifier.
pub const FEATURE_ID: &str = "server-information";
/// Where its page lives.
pub const PAGE: &str = "/server-information";

impl Plugin for ServerInfo {
    fn describe() -> PluginInfo {
        PluginInfo::new("server-info", env!("CARGO_PKG_VERSION")).feature(
            Feature::new(FEATURE_ID, "Server Information", "Server Status")
                .page(PAGE)
                .requires_any_acl(["status"])
                .api0_function("systemloadavg")
                .api0_function("gethostname"),
        )
    }

    fn handle(request: &Request, _: &Host<'_>) -> Result<Response, Error> {
        let facts = Facts::read();
        Ok(match &request.target {
            Target::Api { function } => match function.as_str() {
                "systemloadavg" => match &facts.load {
                    Some(load) => Response::whm_ok(function, &load.to_json()),
                    None => Response::whm_error(function, "The system load averages could not be read."),
                },
                "gethostname" => match &facts.hostname {
                    Some(name) => Response::whm_ok(function, &json!({ "hostname": name })),
                    None => Response::whm_error(function, "The server's hostname could not be read."),
                },
                other => Response::whm_error(other, &format!("Unknown app (\"{other}\") requested.")),
            },
            Target::Page if request.is_post() => fields(request, &facts),
            Target::Page => Response::html(200, page(request, &facts)),
        })
    }
}

plugin_abi::export_plugin!(ServerInfo);

/// The three load averages, as WHM answers them: numbers (`"one": 0.17`).
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

impl Load {
    /// The first three fields of `/proc/loadavg`.
    pub fn parse(text: &str) -> Option<Load> {
        let mut numbers = text.split_whitespace().map(|n| n.parse::<f64>().ok());
        let mut next = || numbers.next().flatten().filter(|n| n.is_finite() && *n >= 0.0);
        Some(Load {
            one: next()?,
            five: next()?,
            fifteen: next()?,
        })
    }

    fn to_json(&self) -> Value {
        json!({ "one": self.one, "five": self.five, "fifteen": self.fifteen })
    }
}

/// What the page shows, read from the kernel at each request; `None` for what could not be read.
#[derive(Debug, Clone)]
pub struct Facts {
    pub hostname: Option<String>,
    /// Seconds since boot.
    pub uptime: Option<u64>,
    pub load: Option<Load>,
}

impl Facts {
    pub fn read() -> Facts {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        Facts {
            hostname: read("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty()),
            uptime: read("/proc/uptime").and_then(|u| {
                u.split_whitespace()
                    .next()
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(|s| s as u64)
            }),
            load: read("/proc/loadavg").as_deref().and_then(Load::parse),
        }
    }
}

/// Uptime as WHM words it: `3 days, 4 hours, 5 minutes`.
pub fn uptime_words(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60);
    let unit = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(unit(days, "day"));
    }
    if days > 0 || hours > 0 {
        parts.push(unit(hours, "hour"));
    }
    parts.push(unit(minutes, "minute"));
    parts.join(", ")
}

/// A POST from the page's script: a JSON body `{"fields": ["hostname", "uptime", "loadavg"]}` answered with those
/// fields as JSON. A body that is not such an object is answered 400 with the reason.
fn fields(request: &Request, facts: &Facts) -> Response {
    let asked: Value = match serde_json::from_slice(&request.body) {
        Ok(v) => v,
        Err(e) => return Response::json(400, &json!({ "error": format!("the body is not JSON: {e}") })),
    };
    let Some(names) = asked.get("fields").and_then(Value::as_array) else {
        return Response::json(
            400,
            &json!({ "error": "the body must be an object with a list of \"fields\"" }),
        );
    };
    let mut answer = serde_json::Map::new();
    for name in names {
        let value = match name.as_str() {
            Some("hostname") => json!(facts.hostname),
            Some("uptime") => json!(facts.uptime),
            Some("loadavg") => facts.load.as_ref().map_or(Value::Null, Load::to_json),
            _ => return Response::json(400, &json!({ "error": format!("unknown field {name}") })),
        };
        answer.insert(name.as_str().unwrap_or_default().to_owned(), value);
    }
    Response::json(200, &answer)
}

fn page(request: &Request, facts: &Facts) -> String {
    let unknown = "unknown";
    html! {
        h2 { "Server Information" }
        table.facts {
            tr { th { "Hostname" } td #hostname { (facts.hostname.as_deref().unwrap_or(unknown)) } }
            tr { th { "Uptime" } td #uptime { (facts.uptime.map_or_else(|| unknown.to_owned(), uptime_words)) } }
            tr {
                th { "Load Averages" }
                td #loadavg {
                    @match &facts.load {
                        Some(l) => { (format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen)) }
                        None => { (unknown) }
                    }
                }
            }
        }
        // The page's script posts `{"csrf_token": …, "fields": [...]}` here and gets the fields back as JSON.
        form #refresh method="post" action=(request.url(PAGE)) {
            input type="hidden" name="csrf_token" value=(request.csrf_token);
        }
        p.note {
            "The same figures: " code { (request.url("/json-api/systemloadavg")) "?api.version=1" } " and "
            code { (request.url("/json-api/gethostname")) "?api.version=1" } "."
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_averages_read_as_whm_writes_them() {
        let load = Load::parse("0.5 1.25 10.00 2/345 6789\n").unwrap();
        assert_eq!((load.one, load.five, load.fifteen), (0.5, 1.25, 10.0));
        assert_eq!(load.to_json(), json!({"one": 0.5, "five": 1.25, "fifteen": 10.0}));
        assert_eq!(Load::parse("0.5 x 1"), None);
        assert_eq!(Load::parse("NaN 1 1"), None);
        assert_eq!(Load::parse(""), None);
    }

    #[test]
    fn uptime_in_words() {
        assert_eq!(uptime_words(59), "0 minutes");
        assert_eq!(uptime_words(3660), "1 hour, 1 minute");
        assert_eq!(uptime_words(2 * 86_400 + 120), "2 days, 0 hours, 2 minutes");
    }
}
