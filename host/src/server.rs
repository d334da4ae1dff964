//! Starting the plugins, building the router, serving, shutting down.
//!
//! Request flow: poem → [`Layered`] (the site's layers, in order) → [`Forward`] (buffer,
//! cross the boundary, rebuild the response) or a host route. Only this module and
//! [`crate::host_api`] know poem's server types.

use std::{
    collections::HashSet,
    panic::AssertUnwindSafe,
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use abi_stable::std_types::{RResult, RString, RVec, Tuple2};
use daas_common::config::{ConfigFile, SiteConfig};
use daas_plugin_api::{
    abi::{FfiRequest, FfiResponse, LayerRequest, LayerVerdict, Pairs, WsMessage, WsSink, WsSinkBox, WsSource, WsSourceBox},
    paths::match_path,
    sdk::StartConfig,
    ApiError, LayerName, PluginName,
};
use futures::{
    stream::{SplitSink, SplitStream},
    FutureExt as _, SinkExt as _, StreamExt as _,
};
use poem::{
    http::{HeaderValue, StatusCode},
    web::websocket::{CloseCode, Message, WebSocket, WebSocketStream},
    Endpoint, EndpointExt, FromRequest, IntoEndpoint, IntoResponse, Request, Response, Route,
};

use crate::{
    host_api::{self, HostApi, PluginInfo},
    loader::{self, LoadedLibrary},
    openapi::{self, Fragment, Operation},
    registry::{self, Plugin},
};

/// What the router shares across requests.
pub struct AppState {
    /// Every plugin is started and the server is not shutting down.
    pub ready: AtomicBool,
    /// The started plugins.
    pub plugins: Vec<Plugin>,
    /// The site's layers, in order, with their providers.
    pub layers: Vec<(LayerName, Plugin)>,
    /// Every documented operation (for operation ids and public flags).
    pub operations: Vec<Operation>,
    /// The merged document.
    pub openapi: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl AppState {
    /// What `/api/v1/plugins` lists.
    pub fn plugin_infos(&self) -> Vec<PluginInfo> {
        self.plugins
            .iter()
            .map(|p| {
                let tag = p.name().as_str();
                let mut routes: Vec<String> =
                    self.operations.iter().filter(|o| o.tag == tag).map(|o| format!("{} {}", o.method, o.path)).collect();
                routes.dedup();
                PluginInfo {
                    name: tag.into(),
                    version: p.library.version.clone(),
                    library: p.library.path.display().to_string(),
                    routes,
                    backends: p.manifest.backends.iter().map(|b| b.to_string()).collect(),
                    layers: p.manifest.layers.iter().map(|l| l.to_string()).collect(),
                    subscriptions: p.manifest.subscriptions.iter().map(|s| s.to_string()).collect(),
                }
            })
            .collect()
    }

    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.method == method && match_path(&o.path, path).is_some())
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Plugins could not be loaded.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Load(Vec<loader::LoadError>),
    /// A plugin's start failed.
    #[error("plugin `{name}` failed to start: {message}")]
    PluginStart { name: PluginName, message: String },
    /// Two plugins conflict.
    #[error(transparent)]
    Register(#[from] registry::RegisterError),
    /// A configured layer has no provider.
    #[error(
        "layer `{layer}` is listed in [extensions] layers of extensions.toml but no loaded plugin provides it; provided layers: {provided}"
    )]
    MissingLayer { layer: LayerName, provided: String },
    /// Two plugins declare the same browser route.
    #[error("browser route `{route}` is declared by both `{first}` and `{second}`")]
    RouteConflict { route: String, first: String, second: String },
}

/// How long a plugin may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(120);

async fn start_plugin(site: &SiteConfig, lib: LoadedLibrary) -> Result<Plugin, String> {
    let file = ConfigFile::of_plugin(lib.name).and_then(|f| site.files.get(&f).cloned()).unwrap_or_else(|| serde_json::json!({}));
    let config = StartConfig { file, settings: serde_json::Value::Object(lib.entry.settings.clone()) };
    let config = serde_json::to_string(&config).map_err(|e| e.to_string())?;
    let fut = (lib.module.start())(registry::services_for(lib.name), config.into());
    match tokio::time::timeout(START_TIMEOUT, AssertUnwindSafe(fut).catch_unwind()).await {
        Err(_) => Err(format!("did not finish starting within {} s", START_TIMEOUT.as_secs())),
        Ok(Err(_)) => Err("panicked while starting".into()),
        Ok(Ok(RResult::RErr(e))) => Err(e.into_string()),
        Ok(Ok(RResult::ROk(manifest))) => Ok(Plugin { library: lib, manifest }),
    }
}

/// Load and start the site's plugins and build the shared state.
pub async fn start(site: &SiteConfig) -> Result<Arc<AppState>, StartError> {
    let (libraries, errors, warnings) = loader::load_all(site);
    for w in &warnings {
        tracing::warn!("optional plugin skipped: {w}");
    }
    if !errors.is_empty() {
        return Err(StartError::Load(errors));
    }
    let mut plugins = Vec::new();
    for lib in libraries {
        let (name, optional) = (lib.name, lib.entry.optional);
        let started = std::time::Instant::now();
        match start_plugin(site, lib).await {
            Ok(plugin) => {
                registry::register(plugin.clone())?;
                tracing::info!(
                    plugin = name.as_str(),
                    version = plugin.library.version,
                    ms = started.elapsed().as_millis() as u64,
                    "plugin started"
                );
                plugins.push(plugin);
            }
            Err(message) if optional => tracing::warn!("optional plugin `{name}` skipped: failed to start: {message}"),
            Err(message) => return Err(StartError::PluginStart { name, message }),
        }
    }
    let mut layers = Vec::new();
    for layer in &site.extensions.extensions.layers {
        match registry::layer_provider(*layer) {
            Some(p) => layers.push((*layer, p)),
            None => {
                let provided: Vec<String> =
                    plugins.iter().flat_map(|p| p.manifest.layers.iter().map(|l| format!("{l} ({})", p.name()))).collect();
                return Err(StartError::MissingLayer {
                    layer: *layer,
                    provided: if provided.is_empty() { "none".into() } else { provided.join(", ") },
                });
            }
        }
    }

    let (openapi, operations) = merged_document(&plugins);
    Ok(Arc::new(AppState {
        ready: AtomicBool::new(false),
        plugins,
        layers,
        operations,
        openapi: serde_json::to_string_pretty(&openapi).unwrap_or_default(),
        max_body_bytes: site.extensions.extensions.max_body_bytes,
    }))
}

fn host_service(state: Arc<AppState>) -> poem_openapi::OpenApiService<HostApi, ()> {
    poem_openapi::OpenApiService::new(HostApi(state), "daas host", env!("CARGO_PKG_VERSION"))
}

fn merged_document(plugins: &[Plugin]) -> (serde_json::Value, Vec<Operation>) {
    // The host's own document is generated the same way as a plugin's; its state is not
    // needed to produce the document.
    let placeholder = Arc::new(AppState {
        ready: AtomicBool::new(false),
        plugins: Vec::new(),
        layers: Vec::new(),
        operations: Vec::new(),
        openapi: String::new(),
        max_body_bytes: 0,
    });
    let host_spec: serde_json::Value = serde_json::from_str(&host_service(placeholder).spec()).unwrap_or_default();
    let mut fragments = vec![Fragment {
        tag: "host".into(),
        description: "The plugin host itself.".into(),
        prefix: String::new(),
        spec: host_spec,
        public: host_api::PUBLIC.iter().map(|s| s.to_string()).collect(),
    }];
    for p in plugins {
        let name = p.name().as_str();
        let mut spec: serde_json::Value = serde_json::from_str(&p.manifest.openapi).unwrap_or_else(|_| serde_json::json!({}));
        // Browser and WebSocket routes are not part of a poem-openapi document; describe
        // them here so that the merged document lists every route.
        let mut api_paths = serde_json::Map::new();
        let mut root_paths = serde_json::Map::new();
        for ws in p.manifest.websockets.iter() {
            let (template, params) = openapi::template_of(&ws.path);
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            let summary = format!("WebSocket (subprotocol `{}`) of plugin {name}", ws.subprotocol);
            let item = openapi::extra_path(&summary, true, &params);
            if ws.browser {
                root_paths.insert(template, item);
            } else {
                let mut item = item;
                item["get"]["operationId"] = serde_json::json!(format!("ws_{}", template.trim_matches('/').replace(['/', '{', '}'], "_")));
                api_paths.insert(template, item);
            }
        }
        if !api_paths.is_empty() {
            if !spec.is_object() {
                spec = serde_json::json!({});
            }
            let paths = spec.as_object_mut().map(|o| o.entry("paths").or_insert_with(|| serde_json::json!({})));
            if let Some(serde_json::Value::Object(paths)) = paths {
                paths.extend(api_paths);
            }
        }
        for route in p.manifest.browser_routes.iter() {
            let (template, params) = openapi::template_of(route);
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            root_paths.entry(template).or_insert_with(|| openapi::extra_path(&format!("Browser page of plugin {name}"), false, &params));
        }
        fragments.push(Fragment {
            tag: name.into(),
            description: format!("Routes of the `{name}` plugin."),
            prefix: format!("/api/v1/{name}"),
            spec,
            public: p.manifest.public_operations.iter().map(|s| s.to_string()).collect(),
        });
        if !root_paths.is_empty() {
            fragments.push(Fragment {
                tag: name.into(),
                description: String::new(),
                prefix: String::new(),
                spec: serde_json::json!({ "paths": root_paths }),
                public: HashSet::new(),
            });
        }
    }
    let (mut doc, ops) = openapi::merge(env!("CARGO_PKG_VERSION"), &fragments);
    // A plugin with browser routes contributes two fragments under one tag.
    if let Some(tags) = doc.get_mut("tags").and_then(|t| t.as_array_mut()) {
        let mut seen = HashSet::new();
        tags.retain(|t| seen.insert(t["name"].as_str().unwrap_or_default().to_string()));
    }
    (doc, ops)
}

fn json_error(status: StatusCode, code: &str, message: impl Into<String>, detail: &str) -> Response {
    ApiError::new(code, message, detail).to_response(status)
}

fn pairs_of(req: &Request) -> Pairs {
    req.headers().iter().filter_map(|(k, v)| v.to_str().ok().map(|v| Tuple2(RString::from(k.as_str()), RString::from(v)))).collect()
}

fn to_response(ffi: FfiResponse) -> Response {
    let mut resp =
        Response::builder().status(StatusCode::from_u16(ffi.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)).body(ffi.body.into_vec());
    let headers = resp.headers_mut();
    for Tuple2(k, v) in ffi.headers.iter() {
        if let (Ok(name), Ok(value)) = (k.as_str().parse::<poem::http::HeaderName>(), HeaderValue::from_str(v.as_str())) {
            headers.append(name, value);
        }
    }
    resp
}

/// The layers' attributes, carried from [`Layered`] to [`Forward`] in the request's
/// extensions (never from anything the client sent).
#[derive(Clone, Default)]
struct LayerAttributes(Pairs);

fn is_websocket_upgrade(req: &Request) -> bool {
    req.headers().get("upgrade").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Runs the site's layers around an endpoint.
struct Layered<E> {
    inner: E,
    plugin: Option<PluginName>,
    state: Arc<AppState>,
}

impl<E: Endpoint> Endpoint for Layered<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        if self.state.layers.is_empty() {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let uri = req.original_uri().clone();
        let method = req.method().as_str().to_string();
        let op = self.state.operation(&method, uri.path());
        let mut layer_req = LayerRequest {
            method: method.as_str().into(),
            uri: uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").into(),
            headers: pairs_of(&req),
            remote_addr: req.remote_addr().to_string().into(),
            plugin: self.plugin.into(),
            operation_id: op.map(|o| o.operation_id.as_str()).unwrap_or_default().into(),
            public: op.is_some_and(|o| o.public),
            websocket: is_websocket_upgrade(&req),
            attributes: RVec::new(),
        };
        let mut ran = 0;
        let mut rejected = None;
        for (layer, provider) in &self.state.layers {
            ran += 1;
            let fut = (provider.module().layer_before())(*layer, layer_req.clone());
            match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(LayerVerdict::Continue(attrs)) => layer_req.attributes.extend(attrs),
                Ok(LayerVerdict::Reject(resp)) => {
                    rejected = Some(to_response(resp));
                    break;
                }
                Err(_) => {
                    tracing::error!(plugin = provider.name().as_str(), "layer `{layer}` panicked across the boundary");
                    rejected = Some(json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "plugin_panicked",
                        format!("layer `{layer}` of plugin `{}` panicked", provider.name()),
                        "",
                    ));
                    break;
                }
            }
        }
        let resp = match rejected {
            Some(r) => r,
            None => {
                req.extensions_mut().insert(LayerAttributes(layer_req.attributes.clone()));
                match self.inner.call(req).await {
                    Ok(r) => r.into_response(),
                    Err(e) => {
                        let (status, err) = ApiError::from_poem(&e);
                        err.to_response(status)
                    }
                }
            }
        };
        let status = resp.status().as_u16();
        for (layer, provider) in self.state.layers[..ran].iter().rev() {
            let fut = (provider.module().layer_after())(*layer, layer_req.clone(), status);
            if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
                tracing::error!(plugin = provider.name().as_str(), "layer `{layer}` panicked across the boundary");
            }
        }
        Ok(resp)
    }
}

/// Forwards requests to one plugin across the boundary.
struct Forward {
    plugin: Plugin,
    browser: bool,
    state: Arc<AppState>,
}

impl Endpoint for Forward {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        // API routes are nested under /api/v1/<plugin>: poem's `nest` has already
        // stripped that prefix from `uri()` (matching the decoded path, so slicing the
        // original by the prefix's length would be wrong for percent-encoded requests).
        // Browser routes see the full path.
        let uri: String = if self.browser { req.original_uri() } else { req.uri() }
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| p.starts_with('/'))
            .map_or_else(|| "/".to_string(), |p| p.to_string());
        let attributes = req.extensions_mut().remove::<LayerAttributes>().unwrap_or_default().0;

        if is_websocket_upgrade(&req) {
            let path = uri.split('?').next().unwrap_or("/");
            let route = self.plugin.manifest.websockets.iter().find(|r| r.browser == self.browser && match_path(&r.path, path).is_some());
            if let Some(route) = route {
                let ffi = FfiRequest {
                    method: "GET".into(),
                    uri: uri.into(),
                    headers: pairs_of(&req),
                    body: RVec::new(),
                    remote_addr: req.remote_addr().to_string().into(),
                    attributes,
                    browser: self.browser,
                };
                return Ok(upgrade(&req, route.subprotocol.to_string(), self.plugin.clone(), ffi).await);
            }
        }

        let body = match req.take_body().into_bytes_limit(self.state.max_body_bytes).await {
            Ok(b) => b,
            Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                return Ok(json_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("request body is larger than {} bytes", self.state.max_body_bytes),
                    "send less, or raise [extensions] max_body_bytes",
                ))
            }
            Err(e) => return Ok(json_error(StatusCode::BAD_REQUEST, "bad_request", format!("request body could not be read: {e}"), "")),
        };
        let ffi = FfiRequest {
            method: req.method().as_str().into(),
            uri: uri.into(),
            headers: pairs_of(&req),
            // Zero-copy when poem's buffer is not shared.
            body: RVec::from(Vec::<u8>::from(body)),
            remote_addr: req.remote_addr().to_string().into(),
            attributes,
            browser: self.browser,
        };
        let fut = (self.plugin.module().handle())(ffi);
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(resp) => Ok(to_response(resp)),
            Err(_) => {
                let name = self.plugin.name();
                tracing::error!(plugin = name.as_str(), "request handler panicked across the boundary");
                Ok(json_error(StatusCode::INTERNAL_SERVER_ERROR, "plugin_panicked", format!("plugin `{name}` panicked"), ""))
            }
        }
    }
}

struct HostSink(Arc<tokio::sync::Mutex<SplitSink<WebSocketStream, Message>>>);
struct HostSource(Arc<tokio::sync::Mutex<SplitStream<WebSocketStream>>>);

impl WsSink for HostSink {
    fn send(&self, msg: WsMessage) -> async_ffi::FfiFuture<RResult<(), RString>> {
        use async_ffi::FutureExt as _;
        let sink = self.0.clone();
        async move {
            let msg = match msg {
                WsMessage::Text(t) => Message::Text(t.into_string()),
                WsMessage::Binary(b) => Message::Binary(b.into_vec()),
                WsMessage::Close(code, reason) => Message::Close(Some((CloseCode::from(code), reason.into_string()))),
            };
            sink.lock().await.send(msg).await.map_err(|e| RString::from(e.to_string())).into()
        }
        .into_ffi()
    }
}

impl WsSource for HostSource {
    fn recv(&self) -> async_ffi::FfiFuture<abi_stable::std_types::ROption<WsMessage>> {
        use async_ffi::FutureExt as _;
        let source = self.0.clone();
        async move {
            let mut source = source.lock().await;
            loop {
                let msg = match source.next().await {
                    None | Some(Err(_)) => return abi_stable::std_types::ROption::RNone,
                    Some(Ok(m)) => m,
                };
                let out = match msg {
                    Message::Text(t) => WsMessage::Text(t.into()),
                    Message::Binary(b) => WsMessage::Binary(b.into()),
                    Message::Close(frame) => {
                        let (code, reason) = frame.map(|(c, r)| (u16::from(c), r)).unwrap_or((1005, String::new()));
                        WsMessage::Close(code, reason.into())
                    }
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                return abi_stable::std_types::ROption::RSome(out);
            }
        }
        .into_ffi()
    }
}

async fn upgrade(req: &Request, subprotocol: String, plugin: Plugin, ffi: FfiRequest) -> Response {
    let ws = match WebSocket::from_request_without_body(req).await {
        Ok(ws) => ws,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad_request", format!("not a valid WebSocket upgrade: {e}"), ""),
    };
    let ws = if subprotocol.is_empty() { ws } else { ws.protocols(vec![subprotocol]) };
    ws.on_upgrade(move |socket| async move {
        let (sink, source) = socket.split();
        let sink: WsSinkBox = daas_plugin_api::abi::WsSink_TO::from_value(
            HostSink(Arc::new(tokio::sync::Mutex::new(sink))),
            abi_stable::sabi_trait::TD_Opaque,
        );
        let source: WsSourceBox = daas_plugin_api::abi::WsSource_TO::from_value(
            HostSource(Arc::new(tokio::sync::Mutex::new(source))),
            abi_stable::sabi_trait::TD_Opaque,
        );
        let fut = (plugin.module().websocket())(ffi, sink, source);
        if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
            tracing::error!(plugin = plugin.name().as_str(), "websocket handler panicked across the boundary");
        }
    })
    .into_response()
}

/// The swagger UI page for the merged document. poem-openapi's UI builders only embed a
/// service's own document, so the page is generated for the host's document and that
/// document swapped for the merged one.
fn docs_page(state: &Arc<AppState>) -> String {
    let service = host_service(state.clone());
    let own = service.spec();
    service.swagger_ui_html().replacen(&own, &state.openapi, 1)
}

/// The complete router.
pub fn router(state: Arc<AppState>) -> Result<impl Endpoint, StartError> {
    let host: Arc<poem::endpoint::BoxEndpoint<'static>> = Arc::new(host_service(state.clone()).into_endpoint().boxed());
    let layered_host = |s: &Arc<AppState>| Layered { inner: host.clone(), plugin: None, state: s.clone() };
    let openapi = state.openapi.clone();
    let docs = docs_page(&state);
    let mut route = Route::new()
        .at("/healthz", layered_host(&state))
        .at("/readyz", layered_host(&state))
        .at("/api/v1/plugins", layered_host(&state))
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| Response::builder().content_type("application/json; charset=utf-8").body(openapi.clone())),
        )
        .at("/docs", poem::endpoint::make_sync(move |_| poem::web::Html(docs.clone()).into_response()));

    let mut browser_owner: std::collections::HashMap<String, String> =
        ["/healthz", "/readyz", "/api/v1/plugins", "/openapi.json", "/docs"].iter().map(|p| (p.to_string(), "host".to_string())).collect();
    for plugin in &state.plugins {
        let name = plugin.name().as_str();
        route = route.nest(
            format!("/api/v1/{name}"),
            Layered {
                inner: Forward { plugin: plugin.clone(), browser: false, state: state.clone() },
                plugin: Some(plugin.name()),
                state: state.clone(),
            },
        );
        let mut patterns: Vec<String> = plugin.manifest.browser_routes.iter().map(|s| s.to_string()).collect();
        patterns.extend(plugin.manifest.websockets.iter().filter(|w| w.browser).map(|w| w.path.to_string()));
        patterns.sort();
        patterns.dedup();
        for pattern in patterns {
            if let Some(first) = browser_owner.insert(pattern.clone(), name.to_string()) {
                return Err(StartError::RouteConflict { route: pattern, first, second: name.to_string() });
            }
            route = route.at(
                pattern,
                Layered {
                    inner: Forward { plugin: plugin.clone(), browser: true, state: state.clone() },
                    plugin: Some(plugin.name()),
                    state: state.clone(),
                },
            );
        }
    }
    Ok(route.catch_all_error(|err: poem::Error| async move {
        let (status, e) = ApiError::from_poem(&err);
        e.to_response(status)
    }))
}

/// Stop every plugin, last started first, each within `grace`.
pub async fn stop_plugins(state: &AppState, grace: Duration) {
    for plugin in state.plugins.iter().rev() {
        let fut = (plugin.module().stop())();
        match tokio::time::timeout(grace, AssertUnwindSafe(fut).catch_unwind()).await {
            Ok(Ok(())) => tracing::info!(plugin = plugin.name().as_str(), "plugin stopped"),
            Ok(Err(_)) => tracing::error!(plugin = plugin.name().as_str(), "plugin panicked while stopping"),
            Err(_) => tracing::warn!(plugin = plugin.name().as_str(), "plugin did not stop within {} ms", grace.as_millis()),
        }
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
