//! `logging.toml`.

use super::*;

file! {
    /// `logging.toml`: the host's log output.
    LoggingFile {
        /// `[log]`
        log: LogSection,
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct LogSection {
    /// The most verbose level written: error, warn, info, debug, trace. `RUST_LOG`
    /// overrides it with a full filter directive.
    pub level: LogLevelName,
    /// `human` (default) or `json` (one object per line).
    pub format: LogFormat,
    /// Log a backtrace with every panic. Off, a panic (in a plugin or the host) is one
    /// line with its error id and where it happened; `RUST_BACKTRACE` does not turn it
    /// on (`DAAS__LOGGING__LOG__BACKTRACES=true` does).
    pub backtraces: bool,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { level: LogLevelName::Info, format: LogFormat::Human, backtraces: false }
    }
}

/// A log level name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum LogLevelName {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// A log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}
