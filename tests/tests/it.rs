//! Integration tests: one binary for the whole workspace.

mod plugins;
mod server;
