//! The host's tracing subscriber: human-readable or JSON lines, level from
//! `logging.toml` unless `RUST_LOG` is set.

use daas_common::config::{LogFormat, LogLevelName, LogSection};
use daas_plugin_api::abi::LogLevel;
use tracing_subscriber::EnvFilter;

/// Install the subscriber, and the panic hook that logs through it; returns the most
/// verbose level plugins need to forward.
pub fn init(log: &LogSection) -> LogLevel {
    install_panic_hook(log.backtraces);
    let level = match log.level {
        LogLevelName::Error => "error",
        LogLevelName::Warn => "warn",
        LogLevelName::Info => "info",
        LogLevelName::Debug => "debug",
        LogLevelName::Trace => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let max = match filter.max_level_hint() {
        Some(l) if l >= tracing_subscriber::filter::LevelFilter::TRACE => LogLevel::Trace,
        Some(l) if l >= tracing_subscriber::filter::LevelFilter::DEBUG => LogLevel::Debug,
        Some(l) if l >= tracing_subscriber::filter::LevelFilter::INFO => LogLevel::Info,
        Some(l) if l >= tracing_subscriber::filter::LevelFilter::WARN => LogLevel::Warn,
        Some(_) => LogLevel::Error,
        None => LogLevel::Trace,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    max
}

/// The standard hook writes a panic as several lines past the log (and a backtrace of a
/// hundred more whenever `RUST_BACKTRACE` is set): here a panic is one log line with an
/// error id and where it happened, and a backtrace only when `[log] backtraces` asks for
/// one. Plugins install the same in their own copy of std (the SDK does).
fn install_panic_hook(backtraces: bool) {
    std::panic::set_hook(Box::new(move |info| {
        let caught = daas_plugin_api::sdk::runtime::Caught::of(info, backtraces);
        let id = daas_plugin_api::error::error_id();
        tracing::error!(error_id = %id, "panicked{}", caught.describe(caught.message()));
    }));
}
