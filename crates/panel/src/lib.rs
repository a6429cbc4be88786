//! The host control panel: WHM API 1 over HTTP, the panel's pages, the CLI, live reload and the audit log.

pub mod admin_pages;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config_write;
pub mod features;
pub mod http;
pub mod keys;
pub mod limiter;
pub mod pages;
pub mod services;
pub mod sessions;
pub mod state;
pub mod tls;
