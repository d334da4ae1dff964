//! # daas plugin-api: the stable ABI between the daas host and its plugins
//!
//! The `daas` host loads each plugin (db, auth, vm, container, node, files, ceph, proxy,
//! phases, testbackend, ...) as a `cdylib` through [abi_stable]. This crate is the only
//! thing both sides share at the boundary:
//!
//! - [`abi`]: the types that cross it. The root module [`abi::PluginMod`] is a table of
//!   `extern "C"` functions (start, serve an HTTP request, serve a WebSocket, serve a
//!   backend call, run a layer, receive an event, ready, stop); requests, responses, WebSocket
//!   halves and layer verdicts are `StableAbi` types; futures are async-ffi
//!   [`FfiFuture`](async_ffi::FfiFuture)s. abi_stable checks the layout of all of it when
//!   the host loads a library, and its semver check refuses a plugin built against
//!   another minor version of this crate.
//! - [`names`]: the fixed names of the original system: [`PluginName`],
//!   [`BackendName`], [`LayerName`].
//! - [`sdk`]: what a plugin author writes against. A plugin is ordinary async Rust:
//!
//! ```ignore
//! use daas_plugin_api::{export_plugin, names::PluginName, sdk::{PluginBuilder, PluginContext}};
//!
//! struct Api;
//! #[poem_openapi::OpenApi]
//! impl Api {
//!     #[oai(path = "/hello", method = "get")]
//!     async fn hello(&self) -> poem_openapi::payload::PlainText<&'static str> {
//!         poem_openapi::payload::PlainText("hello")
//!     }
//! }
//!
//! async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
//!     Ok(PluginBuilder::new().api(poem_openapi::OpenApiService::new(Api, "example", "1.0")))
//! }
//!
//! export_plugin!(PluginName::Testing, start);
//! ```
//!
//! `plugins/testbackend` is the worked example of every feature: routes, a browser
//! route, a WebSocket route, a backend, a layer, events, configuration.
//!
//! ## What the host does with a plugin
//!
//! - **Routes**: the plugin's poem-openapi service is mounted at `/api/v1/<plugin>`; the
//!   host forwards each request (method, path and query without the prefix, headers,
//!   body, packed into one buffer: [`abi::HttpRequest`]) through
//!   [`abi::PluginMod::serve_http`] and merges the plugin's OpenAPI document
//!   into `/openapi.json` (operation ids prefixed with the plugin name, one tag per
//!   plugin, colliding schema names namespaced).
//! - **WebSockets**: the host upgrades (echoing the declared subprotocol) and hands the
//!   plugin an [`sdk::WebSocket`] (text, binary, close with code).
//! - **Backends**: another plugin calls [`sdk::Host::call`] with a typed protocol from
//!   [`protocols`]; the host routes the JSON message to the provider. A missing backend is
//!   a [`abi::BackendErrorKind::NotAvailable`] error, never a panic.
//! - **Layers**: before every plugin route the host runs the layers in the site's
//!   configured order (`[extensions] layers`); each may reject (status + JSON) or attach
//!   [`sdk::Attributes`] the handler reads; after the handler each observes the status.
//!   A layer's [`abi::LayerRequest`] carries the packed head and what the host knows of
//!   the route: the operation id, whether it is public, the permission rule it needs.
//! - **Events**: plugins publish on the topics they declared; the host's own events are
//!   typed ([`events::HostEvent`], [`events::HostOperations`]) and received with
//!   [`sdk::PluginBuilder::on_host_event`]. [`sdk::PluginBuilder::on_ready`] runs once
//!   every plugin of the site has started.
//! - **Services**: at start the plugin receives its configuration (its config file as
//!   JSON) and the [`sdk::Host`]: backend calls, event publishing, and logging (the
//!   plugin's `tracing` events are forwarded to the host's subscriber); and TCP
//!   connections on the host's reactor ([`sdk::net::TcpStream`]), for relays between a
//!   socket and a WebSocket.
//!
//! ## Invariants of the boundary
//!
//! - No panic crosses it: every export catches panics and answers a 500 JSON error (or a
//!   backend error) naming the plugin; the host catches again as a safety net.
//! - A future returned to the host never needs the host's runtime: the SDK enters the
//!   plugin's own tokio runtime on every poll ([`sdk::runtime`]).
//! - Libraries are never unloaded (abi_stable keeps them loaded for the process' life).

#![warn(missing_docs)]

pub mod abi;
pub mod error;
pub mod events;
pub mod identity;
pub mod names;
pub mod paths;
pub mod permissions;
pub mod protocols;
pub mod sdk;

pub use abi::ABI_VERSION;
pub use error::ApiError;
pub use names::{BackendName, LayerName, PluginName};

// Re-exported so that plugins and the export macro use the same versions.
pub use abi_stable;
pub use async_ffi;
pub use futures;
pub use poem;
pub use poem_openapi;

/// Export a plugin: its [`PluginName`] and its async start function
/// (`async fn start(ctx: PluginContext) -> Result<PluginBuilder, String>`).
///
/// Generates the library's root module. The plugin crate must be a `cdylib` and depend
/// on `abi_stable` directly (its macros expand to `::abi_stable::...`).
#[macro_export]
macro_rules! export_plugin {
    ($name:expr, $start:path) => {
        /// The plugin's name, for the test harness (`test_plugin!`).
        #[doc(hidden)]
        pub const DAAS_PLUGIN_NAME: $crate::names::PluginName = $name;

        /// The plugin's start function, boxed, for the host and the test harness.
        #[doc(hidden)]
        pub fn daas_plugin_start(
            ctx: $crate::sdk::PluginContext,
        ) -> ::std::pin::Pin<
            ::std::boxed::Box<
                dyn ::std::future::Future<Output = ::std::result::Result<$crate::sdk::PluginBuilder, ::std::string::String>>
                    + ::std::marker::Send,
            >,
        > {
            ::std::boxed::Box::pin($start(ctx))
        }

        #[::abi_stable::export_root_module]
        pub fn daas_plugin_root_module() -> $crate::abi::PluginModRef {
            $crate::sdk::root_module($name, env!("CARGO_PKG_VERSION"), daas_plugin_start)
        }
    };
}
