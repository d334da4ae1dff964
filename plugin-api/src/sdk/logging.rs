//! Forwards the plugin's `tracing` events to the host.
//!
//! The cdylib has its own copy of tracing with its own (empty) global dispatcher, so
//! without this every event a plugin logs would be lost. Events are formatted here
//! (message plus `key=value` fields) and re-emitted by the host with the plugin's name
//! and the original target as fields, since tracing targets must be constants.

use std::fmt::Write as _;

use tracing::{field::Field, Event, Level, Subscriber};
use tracing_subscriber::{filter::LevelFilter, layer::Context, prelude::*, Layer};

use super::host::Host;
use crate::abi::LogLevel;

struct ForwardToHost(Host);

#[derive(Default)]
struct Fields(String, String);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.1, " {}={:?}", field.name(), value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.1, " {}={:?}", field.name(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for ForwardToHost {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        };
        fields.0.push_str(&fields.1);
        self.0.log(level, event.metadata().target(), &fields.0);
    }
}

/// Install the forwarding subscriber as this plugin's global default (once).
pub(crate) fn install(host: Host) {
    let filter = match host.max_level() {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let _ = tracing_subscriber::registry().with(ForwardToHost(host).with_filter(filter)).try_init();
}
