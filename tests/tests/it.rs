//! Integration tests: one binary for the whole workspace.

mod cli;
mod plugins;
mod reliability;
mod server;
