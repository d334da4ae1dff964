//! The SDK plugin authors use: write ordinary async Rust (a poem-openapi API, typed
//! backends, layers), declare it with a [`PluginBuilder`], and export it with
//! [`export_plugin!`](crate::export_plugin). The SDK turns that into the root module,
//! runs everything on the plugin's own tokio runtime and keeps panics on its side.

mod client;
mod failure;
mod host;
mod logging;
pub mod net;
mod plugin;
pub mod runtime;
#[cfg(feature = "testing")]
pub mod testing;
mod ws;

pub use client::{unexpected, BackendClient};
pub use failure::{Caller, Created, Done, Failure};
pub use host::{host, BackendProtocol, Host};
pub use plugin::{root_module, Attributes, Layer, PluginBuilder, PluginContext, StartConfig, StartFn, WsRequest};
pub use ws::{WebSocket, WsClosed, WsSink, WsSource};
