//! Everything that crosses the dylib boundary. Only types from this module (and
//! [`crate::names`]) appear in the root module's signatures; they are all `StableAbi`,
//! so abi_stable checks their layout when the host loads a library.
//!
//! Compatibility rule: new functions go after the last field of [`PluginMod`] and of
//! [`HostServices`] is frozen at 0.x minor versions; any change to an existing type is a
//! new minor version of plugin-api, and the host refuses plugins built against another
//! minor version (abi_stable's semver check) or with another layout (its layout check).

// `#[sabi_trait]` expands to impls inside a const block; rustc 1.95 warns about that
// (`non_local_definitions`) although abi_stable does it on purpose.
#![allow(non_local_definitions)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RBox, ROption, RResult, RStr, RString, RVec, Tuple2},
    StableAbi,
};
use async_ffi::FfiFuture;

use crate::names::{BackendName, LayerName, PluginName};

/// An ordered list of (name, value) string pairs: HTTP headers or request attributes.
pub type Pairs = RVec<Tuple2<RString, RString>>;

/// A buffered HTTP request as the plugin's own router expects it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct FfiRequest {
    /// `GET`, `POST`, ...
    pub method: RString,
    /// Path and query as the plugin sees them: for API routes the `/api/v1/<plugin>`
    /// prefix is stripped; browser routes keep their full path.
    pub uri: RString,
    /// Request headers in arrival order (names lower-case).
    pub headers: Pairs,
    /// The whole request body.
    pub body: RVec<u8>,
    /// The client's socket address, as text.
    pub remote_addr: RString,
    /// Attributes the layers attached (for example the authenticated identity). Set only
    /// by the host from layer verdicts, never from anything the client sent.
    pub attributes: Pairs,
    /// The request came in on one of the plugin's root-level browser routes rather than
    /// under its API prefix.
    pub browser: bool,
}

/// A buffered HTTP response.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct FfiResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: Pairs,
    /// The whole response body.
    pub body: RVec<u8>,
}

/// One WebSocket message.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text frame.
    Text(RString),
    /// A binary frame.
    Binary(RVec<u8>),
    /// A close frame with its code and reason.
    Close(u16, RString),
}

/// The sending half of a WebSocket the host upgraded for a plugin.
#[sabi_trait]
pub trait WsSink: Send + Sync {
    /// Send one message. Fails when the connection is gone; a `Close` message ends it.
    fn send(&self, msg: WsMessage) -> FfiFuture<RResult<(), RString>>;
}

/// The receiving half of a WebSocket the host upgraded for a plugin.
#[sabi_trait]
pub trait WsSource: Send + Sync {
    /// The next text, binary or close message; `None` once the connection is gone.
    /// Pings are answered by the host and never delivered.
    fn recv(&self) -> FfiFuture<ROption<WsMessage>>;
}

/// Owned trait object of [`WsSink`].
pub type WsSinkBox = WsSink_TO<'static, RBox<()>>;
/// Owned trait object of [`WsSource`].
pub type WsSourceBox = WsSource_TO<'static, RBox<()>>;

/// What a layer sees of a request.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct LayerRequest {
    /// `GET`, `POST`, ...
    pub method: RString,
    /// The full path and query the client asked for.
    pub uri: RString,
    /// Request headers (names lower-case).
    pub headers: Pairs,
    /// The client's socket address.
    pub remote_addr: RString,
    /// The plugin whose route this is (`None` for the host's own routes).
    pub plugin: ROption<PluginName>,
    /// The merged document's operation id of the route (`<plugin>_<operation>`), empty
    /// when the path matches no documented operation.
    pub operation_id: RString,
    /// The plugin declared this operation public (login, health, documents).
    pub public: bool,
    /// The request is a WebSocket upgrade.
    pub websocket: bool,
    /// Attributes attached by the layers that ran before this one.
    pub attributes: Pairs,
}

/// A layer's decision on a request.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone)]
pub enum LayerVerdict {
    /// Go on to the next layer and then the handler, adding these attributes.
    Continue(Pairs),
    /// Answer now with this status and JSON body; later layers and the handler don't run.
    Reject(FfiResponse),
}

/// Why a backend call failed.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    /// What kind of failure.
    pub kind: BackendErrorKind,
    /// A human-readable message that says what went wrong.
    pub message: RString,
}

/// The kind of a [`BackendError`]; mapped to an HTTP status by callers that answer
/// clients.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// No loaded plugin provides the backend.
    NotAvailable,
    /// The request could not be decoded or is invalid.
    BadRequest,
    /// The thing asked for does not exist.
    NotFound,
    /// It exists already, or the state forbids the operation.
    Conflict,
    /// The caller may not do this.
    Forbidden,
    /// A system the backend depends on did not answer.
    Unavailable,
    /// The backend failed (a bug, or a panic caught at the boundary).
    Internal,
}

/// Log levels, as tracing's.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// tracing's ERROR.
    Error,
    /// tracing's WARN.
    Warn,
    /// tracing's INFO.
    Info,
    /// tracing's DEBUG.
    Debug,
    /// tracing's TRACE.
    Trace,
}

/// The services the host offers a plugin, handed over at start. Each function receives
/// the calling plugin's name so the host can attribute logs and calls.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct HostServices {
    /// The plugin these services were made for.
    pub plugin: PluginName,
    /// The most verbose level the host records; plugins drop finer events early.
    pub max_level: LogLevel,
    /// Emit a log record into the host's tracing subscriber.
    pub log: extern "C" fn(plugin: PluginName, level: LogLevel, target: RStr<'_>, message: RStr<'_>),
    /// Call another plugin's backend with a serialized (JSON) request.
    pub call_backend:
        extern "C" fn(caller: PluginName, backend: BackendName, request: RVec<u8>) -> FfiFuture<RResult<RVec<u8>, BackendError>>,
    /// Publish an event (JSON payload) to every plugin subscribed to the topic.
    pub publish: extern "C" fn(plugin: PluginName, topic: RStr<'_>, payload: RString),
}

/// A WebSocket route a plugin serves.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct WsRoute {
    /// Path pattern (`/echo`, `/instance/:id`), relative to the plugin's API prefix, or
    /// to the server root when `browser` is true.
    pub path: RString,
    /// The subprotocol the host echoes when the client offers it (empty: none).
    pub subprotocol: RString,
    /// Mounted at the server root rather than under `/api/v1/<plugin>`.
    pub browser: bool,
}

/// A root-level browser route (an HTML page or form target) a plugin serves.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct BrowserRoute {
    /// `GET`, `POST`, `DELETE`, ...
    pub method: RString,
    /// Path pattern at the server root (`/login`, `/app/:id`); never under `/api/`.
    pub path: RString,
    /// Operation id in the plugin's own namespace (the merged document prefixes it with
    /// the plugin name).
    pub operation_id: RString,
    /// One line for the merged document.
    pub summary: RString,
    /// Needs no identity (the login form).
    pub public: bool,
}

impl BrowserRoute {
    /// A route that needs an identity.
    pub fn new(method: &str, path: &str, operation_id: &str, summary: &str) -> Self {
        BrowserRoute { method: method.into(), path: path.into(), operation_id: operation_id.into(), summary: summary.into(), public: false }
    }

    /// Mark the route public.
    pub fn public(mut self) -> Self {
        self.public = true;
        self
    }
}

/// What a started plugin contributes, returned by [`PluginMod::start`].
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct PluginManifest {
    /// The plugin's OpenAPI 3 document (JSON) for its `/api/v1/<plugin>` routes; empty
    /// when it has none.
    pub openapi: RString,
    /// Root-level browser routes (`/`, `/login`, `/app/:id`) the plugin answers.
    pub browser_routes: RVec<BrowserRoute>,
    /// WebSocket routes.
    pub websockets: RVec<WsRoute>,
    /// Backends the plugin provides.
    pub backends: RVec<BackendName>,
    /// Layers the plugin provides.
    pub layers: RVec<LayerName>,
    /// Operation ids (as in its own document) that need no authentication.
    pub public_operations: RVec<RString>,
    /// Event topics the plugin wants delivered to `on_event` (a trailing `*` matches a
    /// prefix).
    pub subscriptions: RVec<RString>,
}

/// The root module every plugin library exports. Produced by
/// [`export_plugin!`](crate::export_plugin); plugin authors never fill it by hand.
///
/// Every function is safe to call from any thread and returns at once: the work happens
/// in the returned future, on the plugin's own runtime.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The plugin's declared name.
    pub name: extern "C" fn() -> PluginName,
    /// The plugin crate's version.
    pub version: extern "C" fn() -> RString,
    /// Start the plugin with its configuration (the JSON of its config file) and the
    /// host's services. Called once, before any other function but `name`/`version`.
    pub start: extern "C" fn(host: HostServices, config: RString) -> FfiFuture<RResult<PluginManifest, RString>>,
    /// Answer an HTTP request on one of its routes.
    pub handle: extern "C" fn(request: FfiRequest) -> FfiFuture<FfiResponse>,
    /// Serve an upgraded WebSocket on one of its WebSocket routes; the future ends when
    /// the plugin is done with the connection.
    pub websocket: extern "C" fn(request: FfiRequest, sink: WsSinkBox, source: WsSourceBox) -> FfiFuture<()>,
    /// Serve a call to one of its backends.
    pub call_backend: extern "C" fn(backend: BackendName, request: RVec<u8>) -> FfiFuture<RResult<RVec<u8>, BackendError>>,
    /// Run one of its layers before the handler.
    pub layer_before: extern "C" fn(layer: LayerName, request: LayerRequest) -> FfiFuture<LayerVerdict>,
    /// Let one of its layers observe the response status.
    pub layer_after: extern "C" fn(layer: LayerName, request: LayerRequest, status: u16) -> FfiFuture<()>,
    /// Deliver an event published by some plugin.
    pub on_event: extern "C" fn(topic: RString, payload: RString) -> FfiFuture<()>,
    /// Stop: finish or cancel its work and release resources. Called once at shutdown.
    #[sabi(last_prefix_field)]
    pub stop: extern "C" fn() -> FfiFuture<()>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "daas_plugin";
    const NAME: &'static str = "daas_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The plugin-api version this host or plugin was built with (the ABI version).
pub const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");
