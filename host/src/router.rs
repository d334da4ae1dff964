//! The request path: the router, the layers around plugin routes ([`Layered`]), the
//! crossing into a plugin ([`Forward`]), and WebSocket upgrades. Only this module and
//! [`crate::host_api`] know poem's server types.

use std::{
    borrow::Cow,
    future::Future,
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use abi_stable::std_types::{RResult, RString, RVec, Tuple2};
use daas_plugin_api::{
    abi::{
        pack_request_head, unpack_fields, FfiRequest, FfiResponse, FfiSocketAddr, HttpRequest, HttpResponse, LayerRequest, LayerVerdict,
        Pairs, WsMessage, WsSink, WsSinkBox, WsSource, WsSourceBox,
    },
    error::error_id,
    paths::match_path,
    ApiError, PluginName,
};
use futures::{
    future::Either,
    stream::{SplitSink, SplitStream},
    FutureExt as _, SinkExt as _, StreamExt as _,
};
use poem::{
    endpoint::BoxEndpoint,
    http::{HeaderValue, StatusCode},
    web::websocket::{CloseCode, Message, WebSocket, WebSocketConfig, WebSocketStream},
    Endpoint, EndpointExt, FromRequest, IntoEndpoint, IntoResponse, Request, Response, Route,
};

use crate::{
    headers::SecurityHeaders,
    host_api::{self, HostApi},
    registry::Plugin,
    server::{AppState, StartError},
};

/// The read buffer of each upgraded WebSocket (see `upgrade`).
const WS_READ_BUFFER: usize = 8 * 1024;

/// Open WebSocket sessions (shutdown waits for them to close).
pub static OPEN_WEBSOCKETS: AtomicUsize = AtomicUsize::new(0);

/// Paths the host serves itself; no plugin route may take them.
const HOST_PATHS: &[&str] = &["/healthz", "/readyz", "/api/v1/plugins", "/openapi.json", "/docs"];

fn host_service(state: Arc<AppState>) -> poem_openapi::OpenApiService<HostApi, ()> {
    host_api::service(HostApi::bound(state))
}

fn json_error(status: StatusCode, code: &str, message: impl Into<String>, detail: &str) -> Response {
    ApiError::new(code, message, detail).to_response(status)
}

/// Log a panic that crossed a plugin's own guard; returns the error id of the log line.
fn log_crossed_panic(plugin: PluginName, what: &str) -> String {
    let id = error_id();
    tracing::error!(plugin = plugin.as_str(), error_id = %id, "{what} panicked across the boundary");
    id
}

/// A plugin future panicked past the plugin's own guard: log the details, tell the
/// client only an id.
fn crossed_panic(plugin: PluginName, what: &str) -> Response {
    let id = log_crossed_panic(plugin, what);
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "plugin_panicked",
        format!("plugin `{plugin}` failed (error id {id}; the details are in the server log)"),
        "",
    )
}

fn pairs_of(req: &Request) -> Pairs {
    let mut pairs = RVec::with_capacity(req.headers().len());
    for (k, v) in req.headers() {
        if let Ok(v) = v.to_str() {
            pairs.push(Tuple2(RString::from(k.as_str()), RString::from(v)));
        }
    }
    pairs
}

fn to_response(ffi: FfiResponse) -> Response {
    let status = StatusCode::from_u16(ffi.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::builder().status(status).body(ffi.body.into_vec());
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

    // Not `async fn`: its future would hold the request (hundreds of bytes) in every
    // request's future, layers or not. Without layers it is the inner endpoint's own;
    // with layers, the layers' future is boxed.
    fn call(&self, req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        if self.state.layers.is_empty() {
            Either::Left(self.inner.call(req).map(|r| r.map(IntoResponse::into_response)))
        } else {
            Either::Right(Box::pin(self.call_with_layers(req)))
        }
    }
}

impl<E: Endpoint> Layered<E> {
    async fn call_with_layers(&self, mut req: Request) -> poem::Result<Response> {
        let uri = req.original_uri().clone();
        let op = self.state.operation(req.method().as_str(), uri.path());
        let mut layer_req = LayerRequest {
            method: req.method().as_str().into(),
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
                    rejected = Some(crossed_panic(provider.name(), &format!("layer `{layer}`")));
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
                log_crossed_panic(provider.name(), &format!("layer `{layer}`"));
            }
        }
        Ok(resp)
    }
}

/// The response of [`HttpResponse`]: header values and body stay slices of the plugin's
/// buffers (which live as long as the library, that is, for the process).
fn http_to_response(http: HttpResponse) -> Response {
    use poem::http::HeaderName;
    let status = StatusCode::from_u16(http.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if http.body.is_empty() { poem::Body::empty() } else { poem::Body::from_bytes(bytes::Bytes::from_owner(http.body)) };
    let mut resp = Response::builder().status(status).body(body);
    if !http.headers.is_empty() {
        let packed = bytes::Bytes::from_owner(http.headers);
        let headers = resp.headers_mut();
        for (name, value) in unpack_fields(&packed, 0) {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&packed[name]), HeaderValue::from_maybe_shared(packed.slice(value))) {
                headers.append(name, value);
            }
        }
    }
    resp
}

/// Why a request body could not be read.
enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// Nothing arrived for the pause allowed.
    Stalled(Duration),
    /// The connection failed.
    Io(std::io::Error),
}

impl BodyError {
    /// The answer; the connection closes after it, since the rest of the body was not read.
    fn response(&self, limit: usize) -> Response {
        let resp = match self {
            BodyError::TooLarge => json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body is larger than {limit} bytes"),
                "send less, or raise [extensions] max_body_bytes",
            ),
            BodyError::Stalled(pause) => json_error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the request body stopped arriving: nothing for {} ms", pause.as_millis()),
                "send the body without long pauses, or raise [extensions] idle_timeout_ms",
            ),
            BodyError::Io(e) => json_error(StatusCode::BAD_REQUEST, "bad_request", format!("request body could not be read: {e}"), ""),
        };
        closing(resp)
    }
}

/// A response after which the connection closes.
fn closing(mut resp: Response) -> Response {
    resp.headers_mut().insert(poem::http::header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Read a request body of at most `limit` bytes, each piece within `pause` of the one
/// before. A body that arrived in one piece is taken as it is; no body costs nothing.
async fn read_body(body: poem::Body, limit: usize, pause: Option<Duration>) -> Result<bytes::Bytes, BodyError> {
    use http_body_util::BodyExt as _;
    let mut body: http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error> = body.into();
    let mut data = bytes::Bytes::new();
    let mut more: Option<bytes::BytesMut> = None;
    loop {
        let frame = match pause {
            Some(pause) => tokio::time::timeout(pause, body.frame()).await.map_err(|_| BodyError::Stalled(pause))?,
            None => body.frame().await,
        };
        let Some(frame) = frame else { break };
        let Ok(chunk) = frame.map_err(BodyError::Io)?.into_data() else { continue };
        if data.len() + more.as_ref().map_or(0, |m| m.len()) + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        if data.is_empty() && more.is_none() {
            data = chunk;
        } else {
            more.get_or_insert_with(|| bytes::BytesMut::from(std::mem::take(&mut data))).extend_from_slice(&chunk);
        }
    }
    Ok(more.map_or(data, bytes::BytesMut::freeze))
}

/// Forwards requests to one plugin across the boundary.
struct Forward {
    plugin: Plugin,
    browser: bool,
    /// The length of `/api/v1/<plugin>` (API routes).
    prefix_len: usize,
    state: Arc<AppState>,
}

impl Endpoint for Forward {
    type Output = Response;

    // Not `async fn`: everything needed of the request is taken out of it here, so the
    // future (boxed for every plugin request) holds a few buffers instead of the request
    // (it was 2 KiB, past the allocator's per-thread cache).
    fn call(&self, mut req: Request) -> impl Future<Output = poem::Result<Response>> + Send {
        let attributes = req.extensions_mut().remove::<LayerAttributes>().unwrap_or_default().0;
        if is_websocket_upgrade(&req) {
            let uri = self.target(&req).into_owned();
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
                let subprotocol = route.subprotocol.to_string();
                // The handshake needs the request, so this future is the large one: boxed,
                // as upgrades are rare next to requests.
                return Either::Left(Box::pin(async move { Ok(upgrade(&req, subprotocol, self.plugin.clone(), ffi, &self.state).await) }));
            }
        }
        let body = req.take_body();
        let json = crate::json_keys::is_json(req.headers());
        // The request without its body (a plugin built before `serve_http` gets the
        // older form).
        let request = match self.plugin.module().serve_http() {
            Some(serve_http) => Crossing::Http(
                serve_http,
                HttpRequest {
                    head: pack_request_head(req.method().as_str(), &self.target(&req), req.headers()),
                    body: RVec::new(),
                    remote_addr: FfiSocketAddr::from(req.remote_addr().as_socket_addr()),
                    attributes,
                    browser: self.browser,
                },
            ),
            None => Crossing::Legacy(FfiRequest {
                method: req.method().as_str().into(),
                uri: self.target(&req).as_ref().into(),
                headers: pairs_of(&req),
                body: RVec::new(),
                remote_addr: req.remote_addr().to_string().into(),
                attributes,
                browser: self.browser,
            }),
        };
        drop(req);
        Either::Right(async move {
            let body = match read_body(body, self.state.max_body_bytes, self.state.body_pause).await {
                Ok(b) => b,
                Err(e) => return Ok(e.response(self.state.max_body_bytes)),
            };
            if let Some(dup) = json.then(|| crate::json_keys::find_duplicate(&body)).flatten() {
                let at = if dup.pointer.is_empty() { String::new() } else { format!(" (in the object at {})", dup.pointer) };
                return Ok(json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("the JSON body has the duplicate key `{}`{at}", dup.key),
                    "send each key once: parsers disagree on which of two values counts",
                ));
            }
            // A copy (hyper's bytes are views of its read buffer) that the plugin then reads in place.
            let body = RVec::from(Vec::<u8>::from(body));
            let answer = match request {
                Crossing::Http(serve_http, request) => {
                    AssertUnwindSafe(serve_http(HttpRequest { body, ..request })).catch_unwind().await.map(http_to_response)
                }
                Crossing::Legacy(request) => {
                    AssertUnwindSafe((self.plugin.module().handle())(FfiRequest { body, ..request })).catch_unwind().await.map(to_response)
                }
            };
            Ok(answer.unwrap_or_else(|_| crossed_panic(self.plugin.name(), "a request handler")))
        })
    }
}

/// A request on its way into a plugin, in the form the plugin takes.
enum Crossing {
    Http(extern "C" fn(HttpRequest) -> async_ffi::FfiFuture<HttpResponse>, HttpRequest),
    /// A plugin built before `serve_http` existed.
    Legacy(FfiRequest),
}

impl Forward {
    /// The path and query the plugin sees: browser routes see the full path, API routes
    /// the path under `/api/v1/<plugin>`. [`Routes`] matched that prefix byte for byte
    /// (as poem's router matches static segments: a percent-encoded plugin name matches
    /// nothing), so cutting it off by its length is exact.
    fn target<'r>(&self, req: &'r Request) -> Cow<'r, str> {
        let full = req.uri().path_and_query().map(|p| p.as_str()).filter(|p| p.starts_with('/')).unwrap_or("/");
        if self.browser {
            return Cow::Borrowed(full);
        }
        match full.get(self.prefix_len..).unwrap_or("") {
            rest if rest.starts_with('/') => Cow::Borrowed(rest),
            rest => Cow::Owned(format!("/{rest}")),
        }
    }
}

type SharedSink = Arc<tokio::sync::Mutex<SplitSink<WebSocketStream, Message>>>;

struct HostSink(SharedSink);
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
        use abi_stable::std_types::ROption;
        use async_ffi::FutureExt as _;
        let source = self.0.clone();
        async move {
            let mut source = source.lock().await;
            loop {
                let msg = match source.next().await {
                    None | Some(Err(_)) => return ROption::RNone,
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
                return ROption::RSome(out);
            }
        }
        .into_ffi()
    }
}

/// Counts an open WebSocket session for as long as it lives.
struct SessionGuard;

impl SessionGuard {
    fn new() -> Self {
        OPEN_WEBSOCKETS.fetch_add(1, Ordering::SeqCst);
        SessionGuard
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        OPEN_WEBSOCKETS.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn upgrade(req: &Request, subprotocol: String, plugin: Plugin, ffi: FfiRequest, state: &Arc<AppState>) -> Response {
    let ws = match WebSocket::from_request_without_body(req).await {
        Ok(ws) => ws,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad_request", format!("not a valid WebSocket upgrade: {e}"), ""),
    };
    // The same bound as a request body: a message is buffered whole on both sides.
    let mut config = WebSocketConfig::default();
    // tungstenite zero-fills its whole read buffer before each read, so its size is
    // what every open WebSocket costs in memory: 128 KiB by default, for traffic that is
    // keys, pointer moves and pings from a browser. Larger messages take more reads.
    config.read_buffer_size = WS_READ_BUFFER;
    config.max_message_size = Some(state.max_body_bytes);
    config.max_frame_size = Some(state.max_body_bytes);
    let ws = ws.config(config);
    let ws = if subprotocol.is_empty() { ws } else { ws.protocols(vec![subprotocol]) };
    let mut shutdown = state.shutdown.subscribe();
    // Counted from the 101 on, not from when the upgraded connection's task first runs:
    // a shutdown in between must still wait for this session to say goodbye.
    let session_guard = SessionGuard::new();
    ws.on_upgrade(move |socket| async move {
        let _session = session_guard;
        let (sink, source) = socket.split();
        let sink: SharedSink = Arc::new(tokio::sync::Mutex::new(sink));
        let sink_box: WsSinkBox = daas_plugin_api::abi::WsSink_TO::from_value(HostSink(sink.clone()), abi_stable::sabi_trait::TD_Opaque);
        let source_box: WsSourceBox = daas_plugin_api::abi::WsSource_TO::from_value(
            HostSource(Arc::new(tokio::sync::Mutex::new(source))),
            abi_stable::sabi_trait::TD_Opaque,
        );
        let session = AssertUnwindSafe((plugin.module().websocket())(ffi, sink_box, source_box)).catch_unwind();
        tokio::select! {
            ended = session => {
                if ended.is_err() {
                    log_crossed_panic(plugin.name(), "a websocket handler");
                }
            }
            _ = async { shutdown.wait_for(|down| *down).await.map(|_| ()) } => {
                // The plugin's future is dropped here (inside its runtime, see the SDK's
                // `Entered`); the client learns why.
                let close = Message::Close(Some((CloseCode::Away, "server shutting down".into())));
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async { sink.lock().await.send(close).await }).await;
            }
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

/// A browser route must be a clean root-level path that is neither an API path nor
/// one of the host's.
fn check_browser_pattern(plugin: PluginName, pattern: &str) -> Result<(), StartError> {
    if !pattern.starts_with('/')
        || pattern.starts_with("/api/")
        || pattern == "/api"
        || pattern.contains("//")
        || HOST_PATHS.contains(&pattern)
    {
        return Err(StartError::Route(format!(
            "plugin `{plugin}` declares browser route `{pattern}`: browser routes start with `/`, are not under /api/ and do not take the host's paths ({})",
            HOST_PATHS.join(", ")
        )));
    }
    Ok(())
}

/// The server's endpoint: the plugins' API routes, `/api/v1/<plugin>/…`, found by their
/// prefix, everything else by poem's router; errors become JSON. Every request under a
/// plugin's prefix goes to that plugin, whose own router then picks the operation, so
/// the host's router (a radix tree that captures the rest of the path into a parameter,
/// and a nest that rebuilds the URI) would only repeat that work.
struct Routes {
    /// Not boxed, unlike the router's endpoints: their futures are small (see `Forward`),
    /// smaller than the router's, so holding them inline makes no request's future larger.
    api: Vec<(PluginName, Layered<Forward>)>,
    other: Route,
    headers: SecurityHeaders,
    max_body_bytes: usize,
}

const API_PREFIX: &str = "/api/v1/";

impl Endpoint for Routes {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let docs = req.uri().path() == "/docs";
        let upgrade = is_websocket_upgrade(&req);
        // Refused before a byte of the body is read: a client that sent `Expect:
        // 100-continue` is not told to go on, and one that did not is not waited for.
        if let Some(length) = req.headers().get(poem::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
            if length > self.max_body_bytes as u64 {
                let mut resp = BodyError::TooLarge.response(self.max_body_bytes);
                self.headers.apply("", &mut resp);
                return Ok(resp);
            }
        }
        let name =
            req.uri().path().strip_prefix(API_PREFIX).map(|rest| &rest[..rest.bytes().position(|b| b == b'/').unwrap_or(rest.len())]);
        let answer = match name.and_then(|name| self.api.iter().find(|(p, _)| p.as_str() == name)) {
            Some((_, api)) => api.call(req).await,
            None => self.other.call(req).await,
        };
        let mut resp = answer.unwrap_or_else(|err| {
            let (status, e) = ApiError::from_poem(&err);
            e.to_response(status)
        });
        self.headers.apply(if docs { "/docs" } else { "" }, &mut resp);
        // A refused upgrade leaves nothing to keep the connection for: a client
        // retrying upgrades (unauthenticated, 401) would otherwise hold its sockets open.
        if upgrade && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            resp = closing(resp);
        }
        Ok(resp)
    }
}

/// The complete router.
pub fn router(state: Arc<AppState>) -> Result<impl Endpoint, StartError> {
    let host: Arc<BoxEndpoint<'static>> = Arc::new(host_service(state.clone()).into_endpoint().boxed());
    let layered_host = || Layered { inner: host.clone(), plugin: None, state: state.clone() };
    let openapi = state.openapi.clone();
    let docs = docs_page(&state);
    let headers = SecurityHeaders::new(&docs);
    let mut route = Route::new()
        .at("/healthz", layered_host())
        .at("/readyz", layered_host())
        .at("/api/v1/plugins", layered_host())
        .at(
            "/openapi.json",
            poem::endpoint::make_sync(move |_| Response::builder().content_type("application/json; charset=utf-8").body(openapi.clone())),
        )
        .at("/docs", poem::endpoint::make_sync(move |_| poem::web::Html(docs.clone()).into_response()));

    let mut api = Vec::new();
    for plugin in &state.plugins {
        let name = plugin.name();
        let forward = |browser| Layered {
            inner: Forward { plugin: plugin.clone(), browser, prefix_len: API_PREFIX.len() + name.as_str().len(), state: state.clone() },
            plugin: Some(name),
            state: state.clone(),
        };
        api.push((name, forward(false)));
        let mut patterns: Vec<String> = plugin.manifest.browser_routes.iter().map(|r| r.path.to_string()).collect();
        patterns.extend(plugin.manifest.websockets.iter().filter(|w| w.browser).map(|w| w.path.to_string()));
        patterns.sort();
        patterns.dedup();
        for pattern in patterns {
            check_browser_pattern(name, &pattern)?;
            route = route.try_at(&pattern, forward(true)).map_err(|e| {
                StartError::Route(format!("plugin `{name}` declares browser route `{pattern}`, which another route already takes: {e}"))
            })?;
        }
    }
    Ok(Routes { api, other: route, headers, max_body_bytes: state.max_body_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_routes_stay_out_of_the_api_and_host_paths() {
        for ok in ["/", "/login", "/app/:id", "/instance/:id"] {
            assert!(check_browser_pattern(PluginName::Proxy, ok).is_ok(), "{ok}");
        }
        for bad in ["login", "/api/v1/db/x", "/api", "//login", "/healthz", "/docs", "/openapi.json"] {
            let e = check_browser_pattern(PluginName::Proxy, bad).unwrap_err().to_string();
            assert!(e.contains(&format!("plugin `proxy` declares browser route `{bad}`")), "{e}");
        }
    }
}
