//! One call into a plugin, through the one driver of the boundary ([`plugin_abi::drive::invoke`], which the authors'
//! kit uses too), its failure turned into the host's typed error naming the plugin.

use plugin_abi::drive::Failure;
use plugin_abi::{HostCallbacks, PluginEntry, Request, Response};

use crate::error::PluginCallError;

/// Calls the plugin's `handle` for `feature` (which replaces `request.feature`) and copies its answer.
/// `plugin` names it in errors.
pub(crate) fn invoke(
    entry: &PluginEntry,
    plugin: &str,
    feature: &str,
    request: &Request,
    services: &dyn HostCallbacks,
) -> Result<Response, PluginCallError> {
    let plugin = plugin.to_owned();
    // SAFETY: `entry` was read by `plugin_abi::drive::read_entry` from a library the host keeps mapped for its lifetime.
    unsafe { plugin_abi::drive::invoke(entry, feature, request, services) }.map_err(|failure| match failure {
        Failure::Panicked(message) => PluginCallError::Panicked { plugin, message },
        Failure::Failed { status, message } => PluginCallError::Failed {
            plugin,
            status: status.to_string(),
            message,
        },
        Failure::Contract(why) => PluginCallError::ContractViolation { plugin, why },
        Failure::Version { found } => PluginCallError::ContractViolation {
            plugin,
            why: format!("ABI version {found}"),
        },
    })
}
