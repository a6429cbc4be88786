//! The host control panel: WHM API 1 over HTTP, the panel's pages, the CLI, live reload and the audit log.
//!
//! Layers, each using only those below it: `fsx` (files and the clock) and `features` (the panel's own gate
//! features), `audit`, `store` (keys, sessions, throttling), `cluster` (Configuration Cluster members, their
//! outboxes and push tasks), `config_write`, `plugin_set` (the plugins in force), `state` (the `Panel`), `auth` (who is
//! asking: `Caller` and `Authorized`), `whm` (the table of WHM operations and plugin calls), `web` (pages), `tls`
//! (certificates), `conn` (accept loops, connection cap and timeouts), `http` (the router), `cli`.

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
