//! Integration tests: one binary for the whole workspace.

mod architecture;
mod authorization;
mod browser;
mod cli;
mod cluster;
mod conformance;
mod credential_files;
mod fuzz;
mod hostile;
mod isolation;
mod lockout;
mod metrics;
mod ofrep;
mod ofrep_answers;
mod plugin_authors;
mod plugins;
mod real_server;
mod reliability;
mod rules;
mod server;
mod soak;
