//! Integration tests: one binary for the whole workspace.

mod architecture;
mod browser;
mod cli;
mod plugins;
mod reliability;
mod server;
mod soak;
