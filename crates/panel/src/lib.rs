//! The host control panel: WHM API 1 over HTTP, the panel's pages, the CLI, live reload and the audit log.

pub mod cli;
pub mod features;
