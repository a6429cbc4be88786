//! The host control panel: WHM API 1 over HTTP, the panel's pages, the CLI, live reload and the audit log.
//!
//! The modules are in layers, lowest first ([`LAYERS`]): each uses only modules of lower layers, never one of its own
//! layer or above, so there are no import circles. `tests/tests/architecture.rs` reads every `crate::…` path of
//! every file and checks it against this list.

#![forbid(unsafe_code)]

pub mod api_params;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config_write;
pub mod conn;
pub mod features;
pub mod fsx;
pub mod http;
pub mod install;
pub mod metrics;
pub mod ofrep;
pub mod plugin_set;
pub mod service;
pub mod state;
pub mod store;
pub mod tls;
pub mod web;
pub mod whm;

/// The modules in layers, lowest first: a module may use modules of lower layers only.
///
/// - files and the clock, the panel's own gate features, the Prometheus counters;
/// - the audit log, certificates, what is kept between requests (keys, sessions, throttling, password slots), writing
///   the config back, the plugins in force, the default places;
/// - connections (accept loops, cap, timeouts, `Peer`, `Https`), the Configuration Cluster;
/// - the `Panel` (gate, plugins, stores, live reload);
/// - who is asking (`Caller`, `Authorized`), systemd;
/// - the table of WHM operations and plugin calls;
/// - a call's parameters and facts as WHM reads them (the query and the body in any content type);
/// - the pages, OpenFeature;
/// - the router;
/// - the command line.
pub const LAYERS: &[&[&str]] = &[
    &["fsx", "features", "metrics"],
    &["audit", "tls", "store", "config_write", "plugin_set", "install"],
    &["conn", "cluster"],
    &["state"],
    &["auth", "service"],
    &["whm"],
    &["api_params"],
    &["web", "ofrep"],
    &["http"],
    &["cli"],
];
