//! The `extern "C"` functions of the root module: they serve the host from what the
//! plugin declared ([`PluginBuilder`]), each under `catch_unwind` on the plugin's own
//! runtime.

use std::{future::Future, sync::OnceLock};

use abi_stable::std_types::{RResult, RString, RVec};
use async_ffi::FfiFuture;
use futures::future::BoxFuture;
use poem::http::StatusCode;

use super::{
    builder::{PluginBuilder, PluginContext, StartConfig},
    host,
    http::{error_response, error_to_response, target_path, to_http_response, to_poem_request, ws_request},
    runtime::{self, guard, to_ffi},
    ws::WebSocket,
};
use crate::{
    abi::*,
    error::ApiError,
    names::{BackendName, LayerName, PluginName},
    paths::match_path,
};

/// The start function an author writes.
pub type StartFn = fn(PluginContext) -> std::pin::Pin<Box<dyn Future<Output = Result<PluginBuilder, String>> + Send>>;

struct Declaration {
    name: PluginName,
    version: &'static str,
    start: StartFn,
}

static DECLARATION: OnceLock<Declaration> = OnceLock::new();
static STARTED: OnceLock<PluginBuilder> = OnceLock::new();

fn started() -> Option<&'static PluginBuilder> {
    STARTED.get()
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
        serve_http: export_serve_http,
        websocket: export_websocket,
        call_backend: export_call_backend,
        layer_before: export_layer_before,
        layer_after: export_layer_after,
        on_event: export_on_event,
        permissions: export_permissions,
        publishes: export_publishes,
        ready: export_ready,
        stop: export_stop,
    }
    .leak_into_prefix()
}

fn panicked(what: &str, msg: &str) -> String {
    format!("plugin `{}` panicked in {what}{}", declaration().name, runtime::caught(msg).describe(msg))
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

fn handler_panic(msg: String) -> HttpResponse {
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
                        let manifest = match builder.manifest() {
                            Ok(m) => m,
                            Err(e) => return RResult::RErr(e.into()),
                        };
                        if STARTED.set(builder).is_err() {
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

/// The plugin's API or browser endpoint for the request, called with it.
///
/// The returned future is the endpoint's own boxed one: awaiting `Endpoint::call` on a
/// boxed endpoint would keep the request (hundreds of bytes) in the caller's future
/// next to that one, and an export's future larger than the allocator's per-thread
/// cache (1 KiB) costs a slow allocation on every request.
fn call_endpoint(req: HttpRequest) -> Result<BoxFuture<'static, poem::Result<poem::Response>>, HttpResponse> {
    let Some(plugin) = started() else {
        return Err(error_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "plugin not started".into(), ""));
    };
    let endpoints = if req.browser { &plugin.browser } else { &plugin.api };
    let endpoint = match unpack_request_line(&req.head) {
        Some((method, target, _)) => {
            let method = std::str::from_utf8(&req.head[method]).unwrap_or_default();
            let target = std::str::from_utf8(&req.head[target]).unwrap_or_default();
            endpoints.pick(method, target.split_once('?').map_or(target, |(p, _)| p))
        }
        None => None,
    };
    let Some(endpoint) = endpoint else {
        return Err(error_response(StatusCode::NOT_FOUND, "not_found", "no such route".into(), ""));
    };
    let request = to_poem_request(req).map_err(|e| error_response(StatusCode::BAD_REQUEST, "bad_request", e, ""))?;
    Ok(poem::endpoint::DynEndpoint::call(endpoint.as_ref(), request))
}

extern "C" fn export_serve_http(req: HttpRequest) -> FfiFuture<HttpResponse> {
    export(
        move || async move {
            match call_endpoint(req) {
                Ok(call) => to_http_response(call.await.unwrap_or_else(error_to_response)).await,
                Err(e) => e,
            }
        },
        handler_panic,
    )
}

extern "C" fn export_websocket(req: HttpRequest, sink: WsSinkBox, source: WsSourceBox) -> FfiFuture<()> {
    export(
        move || async move {
            let Some(plugin) = started() else { return };
            let path = target_path(&req).unwrap_or_default();
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
            let params = params.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            handler(ws_request(req, params), ws).await
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
            let Some(plugin) = started() else { return };
            let value: serde_json::Value = serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null);
            let handlers: Vec<_> = plugin.subscribers(&topic).map(|h| h(topic.to_string(), value.clone())).collect();
            futures::future::join_all(handlers).await;
        },
        log_panic("an event handler"),
    )
}

extern "C" fn export_ready() -> FfiFuture<RResult<(), RString>> {
    let on_panic = |msg: String| RResult::RErr(logged_panic("its ready hook", &msg).into());
    export(
        || {
            let hooks = started().map(|p| std::mem::take(&mut *p.ready.lock().unwrap_or_else(|e| e.into_inner()))).unwrap_or_default();
            async move {
                for hook in hooks {
                    if let Err(e) = hook().await {
                        return RResult::RErr(e.into());
                    }
                }
                RResult::ROk(())
            }
        },
        on_panic,
    )
}

extern "C" fn export_stop() -> FfiFuture<()> {
    export(
        || {
            let hooks = started().map(|p| std::mem::take(&mut *p.stop.lock().unwrap_or_else(|e| e.into_inner()))).unwrap_or_default();
            async move {
                for hook in hooks {
                    hook().await
                }
            }
        },
        log_panic("stop"),
    )
}

#[cfg(test)]
mod tests {
    use poem_openapi::{param::Path, payload::PlainText, OpenApi, OpenApiService};

    use super::*;
    use crate::sdk::Attributes;

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

    /// The packed request reaches the handler whole (method, target, repeated headers,
    /// address, attributes, body), and its answer comes back packed.
    #[test]
    fn a_packed_request_reaches_the_handler_whole() {
        let _ = DECLARATION.set(Declaration { name: PluginName::Testing, version: "0", start: |_| Box::pin(async { Err("no".into()) }) });
        let _ = STARTED.set(PluginBuilder::new().api(OpenApiService::new(Api, "t", "1")));
        let headers = [("content-type", "text/plain"), ("x-a", "1"), ("x-a", "2")];
        let request = HttpRequest {
            head: pack_request_head("POST", "/echo/a%20b?q=1", headers),
            body: b"hi".to_vec().into(),
            remote_addr: FfiSocketAddr::from(Some(&"10.0.0.1:5".parse().unwrap())),
            attributes: vec![abi_stable::std_types::Tuple2("user".into(), "ada".into())].into(),
            browser: false,
        };
        let answer = futures::executor::block_on(export_serve_http(request));
        assert_eq!(answer.status, 200);
        assert_eq!(std::str::from_utf8(&answer.body).unwrap(), r#"POST /echo/a%20b?q=1 a b ["1", "2"] 10.0.0.1:5 user=Some("ada") hi"#);
        assert!(answer.header("content-type").is_some_and(|c| c.starts_with("text/plain")));

        // A wrong method on a known path: poem's 405 as the JSON error body.
        let request = HttpRequest { head: pack_request_head("GET", "/echo/x", headers), ..Default::default() };
        let answer = futures::executor::block_on(export_serve_http(request));
        assert_eq!(answer.status, 405);
        let body: ApiError = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body.code, "method_not_allowed");
    }
}
