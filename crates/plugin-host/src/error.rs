//! Why a plugin did not load, or why a call into one failed: one enum each, every variant with a message an administrator can act on.

/// Why a plugin library was refused. The host keeps running; the plugin's report carries this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum LoadError {
    #[error("the file does not exist{detail}")]
    FileMissing {
        /// Extra context, e.g. that the path is a symlink to a missing file; empty or starting with "; ".
        detail: String,
    },
    #[error("refused to load the file: {why}")]
    FileUnsafe { why: String },
    #[error("cannot read the file: {detail}")]
    Unreadable { detail: String },
    #[error("SHA-256 mismatch: the configuration pins {expected} but the file hashes to {found}")]
    HashMismatch { expected: String, found: String },
    #[error("not a loadable shared library: {detail}")]
    NotALibrary { detail: String },
    #[error("the library exports no TWEAKGATE_PLUGIN symbol, so it is not a Tweakgate plugin")]
    MissingSymbol,
    #[error(
        "plugin ABI version {found} does not match the host's ABI version {expected} (it loads versions {min} to {expected}); rebuild the plugin against plugin-abi with ABI version {expected}",
        min = plugin_abi::MIN_ABI_VERSION
    )]
    AbiMismatch { expected: u32, found: u32 },
    #[error("invalid plugin description: {why}")]
    InvalidDescriptor { why: String },
    #[error("feature \"{feature}\" cannot be gated: {detail}")]
    UnknownRequirement {
        feature: String,
        /// From the settings catalogue, e.g. `unknown ACL "manage-api-tokenz"; did you mean "manage-api-tokens"?`.
        detail: String,
    },
    #[error("the plugin panicked while describing itself: {message}")]
    PanickedDuringRegistration { message: String },
    /// The description takes something the application hosting the plugins owns (a page path, an API function name,
    /// a feature id): the application's check said why.
    #[error("feature \"{feature}\" is refused by the panel: {why}")]
    TakenByHost { feature: String, why: String },
    /// `isolation = "process"`: the worker process the plugin runs in could not be started, or ended before the plugin
    /// described itself.
    #[error("the plugin's worker process failed: {why}")]
    WorkerFailed { why: String },
}

impl LoadError {
    /// A stable code for scripts and logs, e.g. `ABI_MISMATCH`.
    pub fn code(&self) -> &'static str {
        match self {
            LoadError::FileMissing { .. } => "FILE_MISSING",
            LoadError::FileUnsafe { .. } => "FILE_UNSAFE",
            LoadError::Unreadable { .. } => "UNREADABLE",
            LoadError::HashMismatch { .. } => "HASH_MISMATCH",
            LoadError::NotALibrary { .. } => "NOT_A_LIBRARY",
            LoadError::MissingSymbol => "MISSING_SYMBOL",
            LoadError::AbiMismatch { .. } => "ABI_MISMATCH",
            LoadError::InvalidDescriptor { .. } => "INVALID_DESCRIPTOR",
            LoadError::UnknownRequirement { .. } => "UNKNOWN_REQUIREMENT",
            LoadError::PanickedDuringRegistration { .. } => "PANICKED_DURING_REGISTRATION",
            LoadError::TakenByHost { .. } => "TAKEN_BY_HOST",
            LoadError::WorkerFailed { .. } => "WORKER_FAILED",
        }
    }
}

/// Why a call into a plugin produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum PluginCallError {
    #[error("no plugin provides the feature \"{feature}\"")]
    UnknownFeature { feature: String },
    #[error("the feature \"{feature}\" does not answer the API function \"{function}\"")]
    UnknownFunction { feature: String, function: String },
    #[error("the plugin \"{plugin}\" is not loaded: {reason}")]
    NotLoaded { plugin: String, reason: String },
    #[error("the plugin \"{plugin}\" faulted earlier and is isolated: {detail}")]
    Faulted { plugin: String, detail: String },
    #[error("the plugin \"{plugin}\" panicked: {message}")]
    Panicked { plugin: String, message: String },
    #[error("the plugin \"{plugin}\" failed ({status}): {message}")]
    Failed {
        plugin: String,
        status: String,
        message: String,
    },
    #[error("the plugin \"{plugin}\" broke the ABI contract: {why}")]
    ContractViolation { plugin: String, why: String },
    /// `isolation = "process"`: the worker process crashed, aborted, missed the call's deadline (and was stopped) or
    /// broke the wire protocol. The plugin is faulted and its worker started again after a back-off.
    #[error("the plugin \"{plugin}\" {why}")]
    WorkerFailed { plugin: String, why: String },
    /// `isolation = "process"`: the call waited for the calls before it (a worker serves one at a time) past its
    /// whole budget, so it was not started. Not the plugin's fault.
    #[error("the plugin \"{plugin}\" was busy with earlier calls for longer than the call's budget; it was not called")]
    Busy { plugin: String },
}
