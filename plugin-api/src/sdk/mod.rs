//! The SDK plugin authors use: write ordinary async Rust (a poem-openapi API, typed
//! backends, layers), declare it with a [`PluginBuilder`], and export it with
//! [`export_plugin!`](crate::export_plugin). The SDK turns that into the root module,
//! runs everything on the plugin's own tokio runtime and keeps panics on its side.

mod builder;
mod client;
mod dispatch;
mod exports;
mod failure;
mod host;
mod http;
mod logging;
pub mod net;
pub mod runtime;
#[cfg(feature = "testing")]
pub mod testing;
mod ws;

pub use builder::{Layer, PluginBuilder, PluginContext, StartConfig, WsRequest};
pub use client::{unexpected, BackendClient};
pub use exports::{root_module, StartFn};
pub use failure::{maybe_text, present, text, Caller, Created, Done, Failure};
pub use host::{host, BackendProtocol, Host};
pub use http::Attributes;
pub use ws::{WebSocket, WsClosed, WsSink, WsSource};
