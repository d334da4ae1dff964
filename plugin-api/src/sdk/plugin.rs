//! The plugin side of the boundary: what an author declares ([`PluginBuilder`]) and the
//! `extern "C"` functions that serve the host from that declaration.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
};

use abi_stable::std_types::{RResult, RString, RVec, Tuple2};
use async_ffi::FfiFuture;
use futures::future::BoxFuture;
use poem::{endpoint::BoxEndpoint, http::StatusCode, EndpointExt, IntoEndpoint};
use serde::de::DeserializeOwned;

use super::{
    host::{self, BackendProtocol, Host},
    runtime::{self, guard, to_ffi},
    ws::WebSocket,
};
use crate::{
    abi::*,
    error::ApiError,
    names::{BackendName, LayerName, PluginName},
    paths::match_path,
    permissions::{Permissions, Rule, RuleInfo},
};

/// What a plugin's start function receives.
pub struct PluginContext {
    /// The host's services.
    pub host: Host,
    /// The plugin's config file (see `daas_common::config::ConfigFile::of_plugin`) as
    /// JSON with defaults filled in, already validated by the host; `{}` for plugins
    /// without a file.
    pub file: serde_json::Value,
    /// The free-form `settings` table of the plugin's `[[extensions.plugin]]` entry.
    pub settings: serde_json::Value,
    /// The site directory: resolve relative paths of the configuration against it.
    pub site_dir: std::path::PathBuf,
}

impl PluginContext {
    /// The config file as its typed value (a `daas_common::config` file type).
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.file.clone()).map_err(|e| format!("config file does not match the plugin's schema: {e}"))
    }

    /// The entry's settings as a typed value; use `#[serde(deny_unknown_fields)]` so a
    /// typo is refused at start.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(self.settings.clone()).map_err(|e| format!("invalid `settings` in its [[extensions.plugin]] entry: {e}"))
    }
}

/// The configuration JSON the host hands a plugin at start.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct StartConfig {
    /// The plugin's config file (validated, defaults filled in).
    #[serde(default)]
    pub file: serde_json::Value,
    /// Its entry's settings.
    #[serde(default)]
    pub settings: serde_json::Value,
    /// The site directory (relative paths in the configuration are relative to it).
    #[serde(default)]
    pub site_dir: std::path::PathBuf,
    /// Log a backtrace with every panic (`[log] backtraces` of logging.toml).
    #[serde(default)]
    pub backtraces: bool,
}

/// Attributes attached to a request by the layers (for example the authenticated user).
/// Handlers read them with poem's `Data<&Attributes>` extractor.
#[derive(Debug, Clone, Default)]
pub struct Attributes(pub HashMap<String, String>);

impl Attributes {
    /// One attribute.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// A WebSocket request: the path parameters of the matched route, the headers and the
/// layers' attributes.
#[derive(Debug, Clone)]
pub struct WsRequest {
    /// The path the client asked for (relative to the plugin's prefix for API routes).
    pub path: String,
    /// The matched route's parameters.
    pub params: HashMap<String, String>,
    /// The query string without its `?` (empty when there is none): a browser's
    /// WebSocket can carry its parameters nowhere else.
    pub query: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The layers' attributes.
    pub attributes: Attributes,
}

type WsHandler = Arc<dyn Fn(WsRequest, WebSocket) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type BackendHandler = Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, BackendError>> + Send + Sync>;
pub(crate) type EventHandler = Arc<dyn Fn(String, serde_json::Value) -> BoxFuture<'static, ()> + Send + Sync>;
type StopHandler = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// A layer: runs before every plugin route (in the site's configured order) and may
/// reject the request or attach attributes; observes the response status afterwards.
pub trait Layer: Send + Sync + 'static {
    /// Decide on a request.
    fn before(&self, request: LayerRequest) -> BoxFuture<'static, LayerVerdict>;
    /// Observe the status the request was answered with.
    fn after(&self, _request: LayerRequest, _status: u16) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// A backend handler over JSON bytes, from a typed one.
pub(crate) fn typed_backend<P, F, Fut>(handler: F) -> BackendHandler
where
    P: BackendProtocol,
    F: Fn(P::Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<P::Response, BackendError>> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(move |bytes: Vec<u8>| {
        let handler = handler.clone();
        Box::pin(async move {
            let request: P::Request = serde_json::from_slice(&bytes).map_err(|e| {
                BackendError::new(BackendErrorKind::BadRequest, format!("request to backend `{}` could not be decoded: {e}", P::NAME))
            })?;
            let response = handler(request).await?;
            serde_json::to_vec(&response)
                .map_err(|e| BackendError::new(BackendErrorKind::Internal, format!("answer could not be encoded: {e}")))
        }) as BoxFuture<'static, _>
    })
}

/// Everything a plugin contributes. Built in the plugin's start function.
#[derive(Default)]
pub struct PluginBuilder {
    pub(crate) api: Option<(BoxEndpoint<'static>, String)>,
    pub(crate) browser: Option<(BoxEndpoint<'static>, Vec<BrowserRoute>)>,
    websockets: Vec<(WsRoute, WsHandler)>,
    pub(crate) backends: HashMap<BackendName, BackendHandler>,
    pub(crate) layers: HashMap<LayerName, Arc<dyn Layer>>,
    public_operations: Vec<String>,
    permissions: Permissions,
    publishes: Vec<String>,
    pub(crate) events: Option<(Vec<String>, EventHandler)>,
    stop: std::sync::Mutex<Option<StopHandler>>,
}

impl PluginBuilder {
    /// An empty declaration.
    pub fn new() -> Self {
        Self::default()
    }

    /// The plugin's API: a poem-openapi service, mounted by the host at
    /// `/api/v1/<plugin>` and documented in the merged `/openapi.json`.
    pub fn api<T, W>(mut self, service: poem_openapi::OpenApiService<T, W>) -> Self
    where
        T: poem_openapi::OpenApi + 'static,
        W: poem_openapi::Webhook + 'static,
    {
        let spec = service.spec();
        self.api = Some((service.into_endpoint().boxed(), spec));
        self
    }

    /// Operations (by their operation id in this plugin's document) that the auth layer
    /// lets through without an identity.
    pub fn public_operations<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.public_operations.extend(ids.into_iter().map(Into::into));
        self
    }

    /// The permission rule a caller needs for an operation (by its operation id in this
    /// plugin's document, or a browser or WebSocket route's): the auth layer refuses the
    /// call with 403 when the caller's roles lack it (or the same rule at a wider
    /// scope). Give the narrowest scope the operation works in: a route that shows a
    /// caller their own rows needs `own`; one only administrators use, `global`. The
    /// rule, and its wider variants, join the catalogue administrators build roles from.
    pub fn require(mut self, operation_id: &str, rule: Rule) -> Self {
        self.permissions.operations.insert(operation_id.to_string(), rule);
        self
    }

    /// [`require`](Self::require) for several operations.
    pub fn requires<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, Rule)>) -> Self {
        for (op, rule) in pairs {
            self = self.require(op, rule);
        }
        self
    }

    /// Declare a rule with a description for administrators (a rule only required by
    /// operations is in the catalogue without one). Declaring rules no operation
    /// requires is for plugins that check them themselves.
    pub fn rule(mut self, rule: Rule, description: &str) -> Self {
        self.permissions.rules.push(RuleInfo { rule, description: description.to_string() });
        self
    }

    /// Root-level browser routes (`/`, `/login`, `/app/:id`: HTML pages and form
    /// targets) served by `endpoint`, which sees the full path. Each route is documented
    /// in the merged document; mark the login form [`BrowserRoute::public`].
    pub fn browser<E: IntoEndpoint>(mut self, routes: impl IntoIterator<Item = BrowserRoute>, endpoint: E) -> Self
    where
        E::Endpoint: 'static,
    {
        self.browser = Some((endpoint.into_endpoint().map_to_response().boxed(), routes.into_iter().collect()));
        self
    }

    /// A WebSocket route. `path` is relative to the API prefix, or to the root when
    /// `browser` is true; `subprotocol` is echoed when the client offers it.
    pub fn websocket<F, Fut>(mut self, path: &str, subprotocol: &str, browser: bool, handler: F) -> Self
    where
        F: Fn(WsRequest, WebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let route = WsRoute { path: path.into(), subprotocol: subprotocol.into(), browser };
        self.websockets.push((route, Arc::new(move |r, ws| Box::pin(handler(r, ws)))));
        self
    }

    /// Provide a backend with a typed handler.
    pub fn backend<P, F, Fut>(mut self, handler: F) -> Self
    where
        P: BackendProtocol,
        F: Fn(P::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<P::Response, BackendError>> + Send + 'static,
    {
        self.backends.insert(P::NAME, typed_backend::<P, _, _>(handler));
        self
    }

    /// Provide a layer.
    pub fn layer(mut self, name: LayerName, layer: impl Layer) -> Self {
        self.layers.insert(name, Arc::new(layer));
        self
    }

    /// The event topics this plugin publishes on ([`Host::publish`]): topics, or prefixes
    /// ending in `*` (`instance.*`). The host refuses every other topic, and the host's
    /// own (`host.*`, see [`crate::events`]); a malformed pattern stops the start.
    pub fn publishes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.publishes.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Receive events on these topics (a trailing `*` matches a prefix).
    pub fn on_event<F, Fut>(mut self, topics: &[&str], handler: F) -> Self
    where
        F: Fn(String, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let topics = topics.iter().map(|t| t.to_string()).collect();
        self.events = Some((topics, Arc::new(move |t, v| Box::pin(handler(t, v)))));
        self
    }

    /// Run this when the host stops.
    pub fn on_stop<F, Fut>(mut self, f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.stop = std::sync::Mutex::new(Some(Box::new(move || Box::pin(f()))));
        self
    }

    fn manifest(&self) -> PluginManifest {
        PluginManifest {
            openapi: self.api.as_ref().map(|(_, s)| s.clone()).unwrap_or_default().into(),
            browser_routes: self.browser.iter().flat_map(|(_, routes)| routes.iter().cloned()).collect(),
            websockets: self.websockets.iter().map(|(r, _)| r.clone()).collect(),
            backends: self.backends.keys().copied().collect(),
            layers: self.layers.keys().copied().collect(),
            public_operations: self.public_operations.iter().map(|s| RString::from(s.as_str())).collect(),
            subscriptions: self.events.iter().flat_map(|(t, _)| t.iter().map(|s| RString::from(s.as_str()))).collect(),
        }
    }
}

/// The start function an author writes.
pub type StartFn = fn(PluginContext) -> Pin<Box<dyn Future<Output = Result<PluginBuilder, String>> + Send>>;

struct Declaration {
    name: PluginName,
    version: &'static str,
    start: StartFn,
}

struct Started {
    builder: PluginBuilder,
}

static DECLARATION: OnceLock<Declaration> = OnceLock::new();
static STARTED: OnceLock<Started> = OnceLock::new();

fn started() -> Option<&'static PluginBuilder> {
    STARTED.get().map(|s| &s.builder)
}

fn declaration() -> &'static Declaration {
    DECLARATION.get().expect("root module not initialised")
}

/// Build the root module. Called by the code [`export_plugin!`](crate::export_plugin)
/// generates; not for direct use.
#[doc(hidden)]
pub fn root_module(name: PluginName, version: &'static str, start: StartFn) -> PluginModRef {
    use abi_stable::prefix_type::PrefixTypeTrait;
    let _ = DECLARATION.set(Declaration { name, version, start });
    PluginMod {
        name: export_name,
        version: export_version,
        start: export_start,
        handle: export_handle,
        websocket: export_websocket,
        call_backend: export_call_backend,
        layer_before: export_layer_before,
        layer_after: export_layer_after,
        on_event: export_on_event,
        stop: export_stop,
        serve_http: export_serve_http,
        permissions: export_permissions,
        publishes: export_publishes,
    }
    .leak_into_prefix()
}

fn panicked(what: &str, msg: &str) -> String {
    format!("plugin `{}` panicked in {what}{}", declaration().name, runtime::caught(msg).describe(msg))
}

fn error_response(status: StatusCode, code: &str, message: String, detail: &str) -> FfiResponse {
    ApiError::new(code, message, detail).to_ffi(status.as_u16())
}

/// The body of every async export: build the future (under `catch_unwind`, since a panic
/// in an `extern "C"` function aborts the process) and run it under `catch_unwind` on
/// the plugin's runtime. A panic in either place becomes `on_panic(message)`.
fn export<T, F>(make: impl FnOnce() -> F, on_panic: impl Fn(String) -> T + Clone + Send + 'static) -> FfiFuture<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let late = on_panic.clone();
    // Boxed once, by the FfiFuture: these futures are small (the SDK's own state; the
    // author's futures behind them are boxed already), so the wrappers' moves cost less
    // than a second allocation per call would.
    guard(|| to_ffi(make(), late), |msg| ready(on_panic(msg)))
}

/// Log a panic in one line with an error id (and where it happened, see
/// [`runtime::install_panic_hook`]); the client gets only the id.
fn logged_panic(what: &str, msg: &str) -> String {
    let id = crate::error::error_id();
    tracing::error!(error_id = %id, "{}", panicked(what, msg));
    format!("plugin `{}` failed in {what} (error id {id}; the details are in the server log)", declaration().name)
}

fn handler_panic(msg: String) -> FfiResponse {
    let message = logged_panic("a request handler", &msg);
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "plugin_panicked", message, "the server keeps running; report the error id")
}

fn backend_panic(msg: String) -> RResult<RVec<u8>, BackendError> {
    RResult::RErr(BackendError::new(BackendErrorKind::Internal, logged_panic("a backend call", &msg)))
}

fn layer_panic(msg: String) -> LayerVerdict {
    LayerVerdict::Reject(ApiError::new("plugin_panicked", logged_panic("a layer", &msg), "").to_ffi(500))
}

/// For exports whose caller expects nothing back: log the panic.
fn log_panic(what: &'static str) -> impl Fn(String) + Clone + Send + 'static {
    move |msg| {
        let id = crate::error::error_id();
        tracing::error!(error_id = %id, "{}", panicked(what, &msg))
    }
}

extern "C" fn export_permissions() -> RString {
    // Synchronous and infallible by construction; guarded all the same, since a panic
    // must not cross the boundary.
    std::panic::catch_unwind(|| started().map(|p| serde_json::to_string(&p.permissions).unwrap_or_default()).unwrap_or_default())
        .unwrap_or_default()
        .into()
}

extern "C" fn export_publishes() -> RString {
    std::panic::catch_unwind(|| started().map(|p| serde_json::to_string(&p.publishes).unwrap_or_default()).unwrap_or_default())
        .unwrap_or_default()
        .into()
}

extern "C" fn export_name() -> PluginName {
    declaration().name
}

extern "C" fn export_version() -> RString {
    declaration().version.into()
}

extern "C" fn export_start(services: HostServices, config: RString) -> FfiFuture<RResult<PluginManifest, RString>> {
    let on_panic = |msg: String| RResult::RErr(panicked("start", &msg).into());
    export(
        move || {
            let host = host::install(services);
            super::logging::install(host);
            let config: Result<StartConfig, String> = if config.trim().is_empty() {
                Ok(StartConfig::default())
            } else {
                serde_json::from_str(&config).map_err(|e| format!("configuration is not the expected JSON: {e}"))
            };
            runtime::install_panic_hook(config.as_ref().is_ok_and(|c| c.backtraces));
            async move {
                let config = match config {
                    Ok(config) => config,
                    Err(e) => return RResult::RErr(e.into()),
                };
                let null_to_empty = |v: serde_json::Value| if v.is_null() { serde_json::json!({}) } else { v };
                let ctx = PluginContext {
                    host,
                    file: null_to_empty(config.file),
                    settings: null_to_empty(config.settings),
                    site_dir: config.site_dir,
                };
                match (declaration().start)(ctx).await {
                    Ok(builder) => {
                        let manifest = builder.manifest();
                        if STARTED.set(Started { builder }).is_err() {
                            return RResult::RErr("plugin started twice".into());
                        }
                        RResult::ROk(manifest)
                    }
                    Err(e) => RResult::RErr(e.into()),
                }
            }
        },
        on_panic,
    )
}

/// A future that is ready at once (answers that need no async work).
fn ready<T: Send + 'static>(v: T) -> FfiFuture<T> {
    use async_ffi::FutureExt as _;
    std::future::ready(v).into_ffi()
}

/// A poem request as the host received it. The client's address goes where poem keeps
/// it (`RemoteAddr`), the layers' attributes into an extension for `Data<&Attributes>`.
fn poem_request(
    method: poem::http::Method,
    uri: poem::http::Uri,
    headers: poem::http::HeaderMap,
    body: poem::Body,
    remote_addr: Option<std::net::SocketAddr>,
    attributes: Pairs,
) -> poem::Request {
    use poem::{
        http::uri::Scheme,
        web::{LocalAddr, RemoteAddr},
        Addr, RequestParts,
    };
    let (mut parts, ()) = poem::http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.headers = headers;
    parts.extensions.insert(attributes_of(attributes));
    let remote = RemoteAddr(remote_addr.map(Addr::SocketAddr).unwrap_or_default());
    // The only public way to give a built request its remote address.
    let parts = RequestParts::from((parts, LocalAddr::default(), remote, Scheme::HTTP));
    poem::Request::from_parts(parts, body)
}

fn to_poem_request(req: FfiRequest) -> Result<poem::Request, String> {
    use poem::http::{HeaderMap, HeaderName, HeaderValue, Method};
    let method = Method::from_bytes(req.method.as_bytes()).map_err(|_| format!("bad method {}", req.method))?;
    let uri: poem::http::Uri = req.uri.as_str().parse().map_err(|_| format!("bad uri {}", req.uri))?;
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for Tuple2(k, v) in req.headers.iter() {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v.as_str())) {
            headers.append(k, v);
        }
    }
    // Hosts send poem's `Addr` as text: `socket://127.0.0.1:4000`.
    let remote_addr = req.remote_addr.strip_prefix("socket://").unwrap_or(&req.remote_addr).parse().ok();
    Ok(poem_request(method, uri, headers, shared_body(req.body), remote_addr, req.attributes))
}

/// The request of [`HttpRequest`]: the URI and header values stay slices of the head
/// buffer, the body the buffer the host filled; only the header map is new.
fn http_to_poem_request(req: HttpRequest) -> Result<poem::Request, String> {
    use poem::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
    let (method, target, fields) = unpack_request_line(&req.head).ok_or("malformed request head")?;
    let method = Method::from_bytes(&req.head[method]).map_err(|_| "bad method".to_string())?;
    let head = bytes::Bytes::from_owner(req.head);
    let uri =
        Uri::from_maybe_shared(head.slice(target.clone())).map_err(|_| format!("bad uri {}", String::from_utf8_lossy(&head[target])))?;
    let fields = unpack_fields(&head, fields);
    // The count is the host's, bounded by what the buffer can hold and by what a map takes.
    let mut headers = HeaderMap::try_with_capacity(fields.size_hint().1.unwrap_or(0).min(head.len() / 8)).unwrap_or_default();
    for (name, value) in fields {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&head[name]), HeaderValue::from_maybe_shared(head.slice(value))) {
            headers.append(name, value);
        }
    }
    Ok(poem_request(method, uri, headers, shared_body(req.body), req.remote_addr.get(), req.attributes))
}

/// A body over the host's buffer, without copying it.
fn shared_body(body: RVec<u8>) -> poem::Body {
    if body.is_empty() {
        poem::Body::empty()
    } else {
        poem::Body::from_bytes(bytes::Bytes::from_owner(body))
    }
}

fn attributes_of(pairs: Pairs) -> Attributes {
    // One hasher state for all requests: a new one per map reads a thread-local, which
    // costs a call into the dynamic loader in a dlopen'ed library. The keys come from
    // the layers, not from clients, so per-map keys protect nothing here.
    static HASHER: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    let mut map = HashMap::with_capacity_and_hasher(pairs.len(), HASHER.get_or_init(Default::default).clone());
    map.extend(pairs.into_iter().map(|Tuple2(k, v)| (k.into_string(), v.into_string())));
    Attributes(map)
}

/// A response body's bytes. A body of one chunk (what handlers build from a `Vec` or a
/// string) is taken as it is, without collecting it into a new buffer.
async fn body_bytes(body: poem::Body) -> Result<bytes::Bytes, std::io::Error> {
    use http_body_util::BodyExt as _;
    let mut body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error> = body.into();
    let mut data = bytes::Bytes::new();
    let mut more: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame?.into_data() else { continue };
        if data.is_empty() && more.is_none() {
            data = chunk;
        } else {
            more.get_or_insert_with(|| bytes::BytesMut::from(std::mem::take(&mut data))).extend_from_slice(&chunk);
        }
    }
    Ok(more.map_or(data, bytes::BytesMut::freeze))
}

/// A `Vec` without copying when the bytes are not shared (a body built from a `Vec`).
fn into_rvec(bytes: bytes::Bytes) -> RVec<u8> {
    RVec::from(Vec::<u8>::from(bytes))
}

async fn from_poem_response(resp: poem::Response) -> FfiResponse {
    let status = resp.status().as_u16();
    let mut headers = RVec::with_capacity(resp.headers().len());
    for (k, v) in resp.headers() {
        if let Ok(v) = v.to_str() {
            headers.push(Tuple2(RString::from(k.as_str()), RString::from(v)));
        }
    }
    match body_bytes(resp.into_body()).await {
        Ok(body) => FfiResponse { status, headers, body: into_rvec(body) },
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("response body could not be read: {e}"), ""),
    }
}

/// The plugin's API or browser endpoint called with the request `request` builds.
///
/// The returned future is the endpoint's own boxed one: awaiting `Endpoint::call` on a
/// boxed endpoint would keep the request (hundreds of bytes) in the caller's future
/// next to that one, and an export's future larger than the allocator's per-thread
/// cache (1 KiB) costs a slow allocation on every request.
fn call_endpoint(
    browser: bool,
    request: impl FnOnce() -> Result<poem::Request, String>,
) -> Result<BoxFuture<'static, poem::Result<poem::Response>>, FfiResponse> {
    let Some(plugin) = started() else {
        return Err(error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "plugin not started".into(), ""));
    };
    let endpoint = if browser { plugin.browser.as_ref().map(|(e, _)| e) } else { plugin.api.as_ref().map(|(e, _)| e) };
    let Some(endpoint) = endpoint else {
        return Err(error_response(StatusCode::NOT_FOUND, "not_found", "no such route".into(), ""));
    };
    let request = request().map_err(|e| error_response(StatusCode::BAD_REQUEST, "bad_request", e, ""))?;
    Ok(poem::endpoint::DynEndpoint::call(endpoint.as_ref(), request))
}

pub(crate) fn error_to_response(err: poem::Error) -> poem::Response {
    // A handler's typed error response (poem-openapi's `Result<_, E>`) is already what
    // the route documents: keep it, rather than replace its body.
    if err.is_from_response() {
        return err.into_response();
    }
    let (status, e) = ApiError::from_poem(&err);
    e.to_response(status)
}

extern "C" fn export_handle(req: FfiRequest) -> FfiFuture<FfiResponse> {
    export(
        move || async move {
            match call_endpoint(req.browser, || to_poem_request(req)) {
                Ok(call) => from_poem_response(call.await.unwrap_or_else(error_to_response)).await,
                Err(e) => e,
            }
        },
        handler_panic,
    )
}

extern "C" fn export_serve_http(req: HttpRequest) -> FfiFuture<HttpResponse> {
    export(
        move || async move {
            let response = match call_endpoint(req.browser, || http_to_poem_request(req)) {
                Ok(call) => call.await.unwrap_or_else(error_to_response),
                Err(e) => return e.into(),
            };
            // Taken apart before awaiting the body, so that the future holds the packed
            // headers rather than the whole response.
            let status = response.status().as_u16();
            let headers = pack_fields(response.headers());
            match body_bytes(response.into_body()).await {
                Ok(body) => HttpResponse { status, headers, body: into_rvec(body) },
                Err(e) => {
                    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("response body could not be read: {e}"), "")
                        .into()
                }
            }
        },
        |msg| handler_panic(msg).into(),
    )
}

extern "C" fn export_websocket(req: FfiRequest, sink: WsSinkBox, source: WsSourceBox) -> FfiFuture<()> {
    export(
        move || async move {
            let Some(plugin) = started() else { return };
            let (path, query) = match req.uri.split_once('?') {
                Some((path, query)) => (path.to_string(), query.to_string()),
                None => (req.uri.to_string(), String::new()),
            };
            let found = plugin.websockets.iter().find_map(|(route, handler)| {
                if route.browser != req.browser {
                    return None;
                }
                match_path(route.path.as_str(), &path).map(|params| (handler.clone(), params))
            });
            let ws = WebSocket::new(sink, source);
            let Some((handler, params)) = found else {
                let _ = ws.send(WsMessage::Close(1008, "no such websocket route".into())).await;
                return;
            };
            let request = WsRequest {
                path,
                query,
                params: params.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                headers: req.headers.into_iter().map(|Tuple2(k, v)| (k.into_string(), v.into_string())).collect(),
                attributes: attributes_of(req.attributes),
            };
            handler(request, ws).await
        },
        log_panic("a websocket handler"),
    )
}

extern "C" fn export_call_backend(backend: BackendName, request: RVec<u8>) -> FfiFuture<RResult<RVec<u8>, BackendError>> {
    export(
        move || async move {
            let Some(handler) = started().and_then(|p| p.backends.get(&backend).cloned()) else {
                return RResult::RErr(BackendError::new(
                    BackendErrorKind::NotAvailable,
                    format!("plugin `{}` does not provide backend `{backend}`", declaration().name),
                ));
            };
            handler(request.into_vec()).await.map(RVec::from).into()
        },
        backend_panic,
    )
}

extern "C" fn export_layer_before(layer: LayerName, request: LayerRequest) -> FfiFuture<LayerVerdict> {
    export(
        move || async move {
            match started().and_then(|p| p.layers.get(&layer).cloned()) {
                Some(l) => l.before(request).await,
                None => LayerVerdict::Reject(
                    ApiError::new("internal", format!("plugin `{}` does not provide layer `{layer}`", declaration().name), "").to_ffi(500),
                ),
            }
        },
        layer_panic,
    )
}

extern "C" fn export_layer_after(layer: LayerName, request: LayerRequest, status: u16) -> FfiFuture<()> {
    export(
        move || async move {
            if let Some(l) = started().and_then(|p| p.layers.get(&layer).cloned()) {
                l.after(request, status).await
            }
        },
        log_panic("a layer"),
    )
}

extern "C" fn export_on_event(topic: RString, payload: RString) -> FfiFuture<()> {
    export(
        move || async move {
            if let Some((_, handler)) = started().and_then(|p| p.events.as_ref()) {
                let value = serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null);
                handler(topic.into_string(), value).await
            }
        },
        log_panic("an event handler"),
    )
}

extern "C" fn export_stop() -> FfiFuture<()> {
    export(
        || {
            let stop = started().and_then(|p| p.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
            async move {
                if let Some(stop) = stop {
                    stop().await
                }
            }
        },
        log_panic("stop"),
    )
}

#[cfg(test)]
mod tests {
    use abi_stable::std_types::Tuple2;
    use poem_openapi::{param::Path, payload::PlainText, OpenApi, OpenApiService};

    use super::*;

    struct Api;

    #[OpenApi]
    impl Api {
        #[oai(path = "/echo/:name", method = "post", operation_id = "echo")]
        async fn echo(
            &self,
            req: &poem::Request,
            name: Path<String>,
            attributes: poem::web::Data<&Attributes>,
            body: PlainText<String>,
        ) -> PlainText<String> {
            let x: Vec<&str> = req.headers().get_all("x-a").iter().map(|v| v.to_str().unwrap()).collect();
            PlainText(format!(
                "{} {} {name} {x:?} {} user={:?} {}",
                req.method(),
                req.uri(),
                req.remote_addr().as_socket_addr().unwrap(),
                attributes.get("user"),
                body.0,
                name = name.0
            ))
        }
    }

    /// Both entries (`serve_http`, and `handle` for older hosts) give the handler the same
    /// request and the host the same answer.
    #[test]
    fn both_request_paths_hand_the_handler_the_same_request() {
        let _ = STARTED.set(Started { builder: PluginBuilder::new().api(OpenApiService::new(Api, "t", "1")) });
        let headers = [("content-type", "text/plain"), ("x-a", "1"), ("x-a", "2")];
        let pairs = || headers.iter().map(|(k, v)| Tuple2(RString::from(*k), RString::from(*v))).collect::<Pairs>();
        let attributes: Pairs = vec![Tuple2("user".into(), "ada".into())].into();
        let legacy = FfiRequest {
            method: "POST".into(),
            uri: "/echo/a%20b?q=1".into(),
            headers: pairs(),
            body: b"hi".to_vec().into(),
            remote_addr: "socket://10.0.0.1:5".into(),
            attributes: attributes.clone(),
            browser: false,
        };
        let packed = HttpRequest {
            head: pack_request_head("POST", "/echo/a%20b?q=1", headers),
            body: b"hi".to_vec().into(),
            remote_addr: FfiSocketAddr::from(Some(&"10.0.0.1:5".parse().unwrap())),
            attributes,
            browser: false,
        };
        let legacy = HttpResponse::from(futures::executor::block_on(export_handle(legacy)));
        let packed = futures::executor::block_on(export_serve_http(packed));
        assert_eq!(packed.status, 200);
        assert_eq!(std::str::from_utf8(&packed.body).unwrap(), r#"POST /echo/a%20b?q=1 a b ["1", "2"] 10.0.0.1:5 user=Some("ada") hi"#);
        assert_eq!((legacy.status, legacy.body, legacy.headers), (packed.status, packed.body, packed.headers));
    }
}
