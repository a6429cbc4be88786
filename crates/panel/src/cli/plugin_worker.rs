//! `tweakgate plugin-worker`: the process a plugin configured with `isolation = "process"` runs in. The server starts
//! it with a socket and a sealed copy of the checked library; nothing here is meant to be run by hand.

use std::process::ExitCode;

/// Serves the plugin the host hands over until the host closes the socket or ends.
pub(super) fn run() -> ExitCode {
    ExitCode::from(u8::try_from(plugin_host::worker::serve()).unwrap_or(2))
}
