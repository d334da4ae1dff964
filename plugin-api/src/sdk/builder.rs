//! What an author declares: the [`PluginBuilder`] a plugin's start function returns,
//! what that function receives ([`PluginContext`]), and the [`Layer`] trait. Every
//! builder call adds to what earlier calls declared; what cannot be combined (two API
//! services with the same operation, a backend or a layer declared twice) stops the
//! start with an error.

use std::{collections::HashMap, future::Future, sync::Arc};

use futures::future::BoxFuture;
use poem::{EndpointExt, IntoEndpoint};
use serde::de::DeserializeOwned;

use super::{
    dispatch::{ApiDocument, Endpoints},
    host::{BackendProtocol, Host},
    http::Attributes,
    ws::WebSocket,
};
use crate::{
    abi::*,
    events::HostEvent,
    names::{BackendName, LayerName},
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

pub(crate) type WsHandler = Arc<dyn Fn(WsRequest, WebSocket) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type BackendHandler = Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<Vec<u8>, BackendError>> + Send + Sync>;
pub(crate) type EventHandler = Arc<dyn Fn(String, serde_json::Value) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type ReadyHandler = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), String>> + Send>;
pub(crate) type StopHandler = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// A layer: runs before every plugin route (in the site's configured order) and may
/// reject the request or attach attributes; observes the response status afterwards.
/// The request carries what the host knows of the route: the operation id, whether it
/// is public, and the permission rule it requires ([`LayerRequest::rule`]).
pub trait Layer: Send + Sync + 'static {
    /// Decide on a request.
    fn before(&self, request: LayerRequest) -> BoxFuture<'static, LayerVerdict>;
    /// Observe the status the request was answered with.
    fn after(&self, _request: LayerRequest, _status: u16) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Everything a plugin contributes. Built in the plugin's start function; every call
/// adds to what the calls before it declared.
#[derive(Default)]
pub struct PluginBuilder {
    /// The API services, routed by their documented paths.
    pub(crate) api: Endpoints,
    /// The browser endpoints, routed by their routes.
    pub(crate) browser: Endpoints,
    pub(crate) browser_routes: Vec<BrowserRoute>,
    pub(crate) websockets: Vec<(WsRoute, WsHandler)>,
    pub(crate) backends: HashMap<BackendName, BackendHandler>,
    pub(crate) layers: HashMap<LayerName, Arc<dyn Layer>>,
    pub(crate) public_operations: Vec<String>,
    pub(crate) permissions: Permissions,
    pub(crate) publishes: Vec<String>,
    /// Each subscription: its topic patterns and its handler.
    pub(crate) events: Vec<(Vec<String>, EventHandler)>,
    /// Taken when the host calls them (the builder is shared by then).
    pub(crate) ready: std::sync::Mutex<Vec<ReadyHandler>>,
    pub(crate) stop: std::sync::Mutex<Vec<StopHandler>>,
    /// The merged document of the API services.
    pub(crate) document: ApiDocument,
    /// What could not be combined; the start fails with these.
    pub(crate) errors: Vec<String>,
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

impl PluginBuilder {
    /// An empty declaration.
    pub fn new() -> Self {
        Self::default()
    }

    /// An API: a poem-openapi service, mounted by the host at `/api/v1/<plugin>` and
    /// documented in the merged `/openapi.json`. Several services may be given (one call
    /// each): their documents are merged and each request goes to the service that
    /// documents its path. Two services documenting the same operation (method and path)
    /// or differing schemas of one name stop the start.
    pub fn api<T, W>(mut self, service: poem_openapi::OpenApiService<T, W>) -> Self
    where
        T: poem_openapi::OpenApi + 'static,
        W: poem_openapi::Webhook + 'static,
    {
        let spec = service.spec();
        match self.document.merge(&spec) {
            Ok(patterns) => self.api.push(super::failure::named_path_errors(service.into_endpoint().boxed(), &spec), patterns),
            Err(e) => self.errors.push(format!("its API services cannot be combined: {e}")),
        }
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
    /// in the merged document; mark the login form [`BrowserRoute::public`]. Several
    /// calls add their routes, each served by its own endpoint.
    pub fn browser<E: IntoEndpoint>(mut self, routes: impl IntoIterator<Item = BrowserRoute>, endpoint: E) -> Self
    where
        E::Endpoint: 'static,
    {
        let routes: Vec<BrowserRoute> = routes.into_iter().collect();
        let patterns = routes.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
        self.browser.push(endpoint.into_endpoint().map_to_response().boxed(), patterns);
        self.browser_routes.extend(routes);
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

    /// Provide a backend with a typed handler (once per backend).
    pub fn backend<P, F, Fut>(mut self, handler: F) -> Self
    where
        P: BackendProtocol,
        F: Fn(P::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<P::Response, BackendError>> + Send + 'static,
    {
        if self.backends.insert(P::NAME, typed_backend::<P, _, _>(handler)).is_some() {
            self.errors.push(format!("it provides backend `{}` twice", P::NAME));
        }
        self
    }

    /// Provide a layer (once per layer).
    pub fn layer(mut self, name: LayerName, layer: impl Layer) -> Self {
        if self.layers.insert(name, Arc::new(layer)).is_some() {
            self.errors.push(format!("it provides layer `{name}` twice"));
        }
        self
    }

    /// The event topics this plugin publishes on ([`Host::publish`]): topics, or prefixes
    /// ending in `*` (`instance.*`). The host refuses every other topic, and the host's
    /// own (`host.*`, see [`crate::events`]); a malformed pattern stops the start.
    pub fn publishes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.publishes.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Receive events on these topics (a trailing `*` matches a prefix). Each call adds
    /// a subscription; an event goes to every handler whose topics match it.
    pub fn on_event<F, Fut>(mut self, topics: &[&str], handler: F) -> Self
    where
        F: Fn(String, serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let topics = topics.iter().map(|t| t.to_string()).collect();
        self.events.push((topics, Arc::new(move |t, v| Box::pin(handler(t, v)))));
        self
    }

    /// Receive one of the host's events ([`crate::events`]), typed:
    /// `.on_host_event(|ops: HostOperations| async move { .. })`. A payload that does
    /// not decode (a host of another build) is logged and not delivered.
    pub fn on_host_event<E, F, Fut>(mut self, handler: F) -> Self
    where
        E: HostEvent,
        F: Fn(E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let on_event: EventHandler = Arc::new(move |topic, payload| {
            let handler = handler.clone();
            Box::pin(async move {
                match serde_json::from_value::<E>(payload) {
                    Ok(event) => handler(event).await,
                    Err(e) => tracing::error!(topic, error = %e, "the host's event could not be read"),
                }
            })
        });
        self.events.push((vec![E::TOPIC.to_string()], on_event));
        self
    }

    /// Run this once every plugin of the site has started (other plugins' backends are
    /// callable), before the server reports ready: work that needs another plugin, such
    /// as reconciling state kept in the db with the world. An error is logged by the
    /// host and, unless the plugin is optional, stops the server. Several calls run in
    /// order.
    pub fn on_ready<F, Fut>(mut self, f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.ready.get_mut().unwrap_or_else(|e| e.into_inner()).push(Box::new(move || Box::pin(f())));
        self
    }

    /// Run this when the host stops. Several calls run in order.
    pub fn on_stop<F, Fut>(mut self, f: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.stop.get_mut().unwrap_or_else(|e| e.into_inner()).push(Box::new(move || Box::pin(f())));
        self
    }

    /// What the host learns at start; the combined errors when the declaration cannot
    /// be served.
    pub(crate) fn manifest(&self) -> Result<PluginManifest, String> {
        if !self.errors.is_empty() {
            return Err(self.errors.join("; "));
        }
        Ok(PluginManifest {
            openapi: self.document.to_json().into(),
            browser_routes: self.browser_routes.iter().cloned().collect(),
            websockets: self.websockets.iter().map(|(r, _)| r.clone()).collect(),
            backends: self.backends.keys().copied().collect(),
            layers: self.layers.keys().copied().collect(),
            public_operations: self.public_operations.iter().map(|s| abi_stable::std_types::RString::from(s.as_str())).collect(),
            subscriptions: self
                .events
                .iter()
                .flat_map(|(t, _)| t.iter().map(|s| abi_stable::std_types::RString::from(s.as_str())))
                .collect(),
        })
    }

    /// The handlers subscribed to a topic.
    pub(crate) fn subscribers<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a EventHandler> + 'a {
        self.events.iter().filter(move |(patterns, _)| patterns.iter().any(|p| crate::events::matches(p, topic))).map(|(_, h)| h)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use poem_openapi::{payload::PlainText, OpenApi, OpenApiService};

    use super::*;
    use crate::{events::HostOperations, protocols::Testing};

    struct First;
    #[OpenApi]
    impl First {
        #[oai(path = "/one", method = "get", operation_id = "one")]
        async fn one(&self) -> PlainText<&'static str> {
            PlainText("first")
        }
    }

    struct Second;
    #[OpenApi]
    impl Second {
        #[oai(path = "/two/:id", method = "get", operation_id = "two")]
        async fn two(&self, id: poem_openapi::param::Path<String>) -> PlainText<String> {
            PlainText(format!("second {}", id.0))
        }
        #[oai(path = "/one", method = "post", operation_id = "one_post")]
        async fn one_post(&self) -> PlainText<&'static str> {
            PlainText("second's post")
        }
    }

    async fn get(builder: &PluginBuilder, method: &str, path: &str) -> (u16, String) {
        let endpoint = builder.api.pick(method, path).expect("an endpoint");
        let req = poem::Request::builder().method(method.parse().unwrap()).uri(path.parse().unwrap()).finish();
        let resp = match endpoint.call(req).await {
            Ok(r) => r,
            Err(e) => super::super::http::error_to_response(e),
        };
        (resp.status().as_u16(), resp.into_body().into_string().await.unwrap())
    }

    #[tokio::test]
    async fn several_api_services_merge_their_documents_and_each_request_reaches_its_own() {
        let b = PluginBuilder::new().api(OpenApiService::new(First, "t", "1")).api(OpenApiService::new(Second, "t", "1"));
        let manifest = b.manifest().unwrap();
        let doc: serde_json::Value = serde_json::from_str(&manifest.openapi).unwrap();
        assert!(doc["paths"]["/one"]["get"].is_object() && doc["paths"]["/one"]["post"].is_object(), "{doc}");
        assert!(doc["paths"]["/two/{id}"]["get"].is_object(), "{doc}");
        assert_eq!(get(&b, "GET", "/one").await, (200, "first".into()));
        assert_eq!(get(&b, "POST", "/one").await, (200, "second's post".into()));
        assert_eq!(get(&b, "GET", "/two/7").await, (200, "second 7".into()));
        assert_eq!(get(&b, "GET", "/nothing").await.0, 404);
    }

    #[test]
    fn two_services_with_one_operation_stop_the_start() {
        let b = PluginBuilder::new().api(OpenApiService::new(First, "t", "1")).api(OpenApiService::new(First, "t", "1"));
        let e = b.manifest().unwrap_err();
        assert!(e.contains("two services document GET /one"), "{e}");
    }

    #[test]
    fn a_backend_or_a_layer_declared_twice_stops_the_start() {
        struct Pass;
        impl Layer for Pass {
            fn before(&self, _: LayerRequest) -> BoxFuture<'static, LayerVerdict> {
                Box::pin(async { LayerVerdict::Continue(Default::default()) })
            }
        }
        let echo = |r| async move {
            let _: crate::protocols::TestingRequest = r;
            Ok(crate::protocols::TestingResponse::Add { sum: 0 })
        };
        let b = PluginBuilder::new().backend::<Testing, _, _>(echo).backend::<Testing, _, _>(echo);
        assert!(b.manifest().unwrap_err().contains("backend `testbackend` twice"));
        let b = PluginBuilder::new().layer(LayerName::Testing, Pass).layer(LayerName::Testing, Pass);
        assert!(b.manifest().unwrap_err().contains("layer `testing` twice"));
    }

    #[tokio::test]
    async fn browser_calls_add_routes_each_served_by_its_endpoint() {
        let page = |text: &'static str| poem::endpoint::make_sync(move |_| text);
        let b = PluginBuilder::new()
            .browser([BrowserRoute::new("GET", "/a", "a", "A.")], page("a"))
            .browser([BrowserRoute::new("GET", "/b/:id", "b", "B."), BrowserRoute::new("POST", "/a", "a_post", "A form.")], page("b"));
        assert_eq!(b.manifest().unwrap().browser_routes.len(), 3);
        for (method, path, want) in [("GET", "/a", "a"), ("GET", "/b/1", "b"), ("POST", "/a", "b")] {
            let endpoint = b.browser.pick(method, path).unwrap();
            let req = poem::Request::builder().method(method.parse().unwrap()).uri(path.parse().unwrap()).finish();
            let body = endpoint.call(req).await.unwrap().into_body().into_string().await.unwrap();
            assert_eq!(body, want, "{method} {path}");
        }
    }

    #[tokio::test]
    async fn event_subscriptions_add_up_and_host_events_arrive_typed() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, b, c) = (seen.clone(), seen.clone(), seen.clone());
        let builder = PluginBuilder::new()
            .on_event(&["x.*"], move |t, _| {
                a.lock().unwrap().push(format!("first {t}"));
                async {}
            })
            .on_event(&["x.y", "z"], move |t, _| {
                b.lock().unwrap().push(format!("second {t}"));
                async {}
            })
            .on_host_event(move |ops: HostOperations| {
                c.lock().unwrap().push(format!("host {}", ops.operations.len()));
                async {}
            });
        let subscriptions: Vec<String> = builder.manifest().unwrap().subscriptions.iter().map(|s| s.to_string()).collect();
        assert_eq!(subscriptions, ["x.*", "x.y", "z", "host.operations"]);
        let ops = serde_json::to_value(HostOperations::default()).unwrap();
        for (topic, payload) in [("x.y", serde_json::Value::Null), ("z", serde_json::Value::Null), ("host.operations", ops)] {
            for handler in builder.subscribers(topic) {
                handler(topic.to_string(), payload.clone()).await;
            }
        }
        assert_eq!(*seen.lock().unwrap(), ["first x.y", "second x.y", "second z", "host 0"]);
    }

    #[tokio::test]
    async fn ready_and_stop_hooks_add_up_and_run_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, b, c, d) = (seen.clone(), seen.clone(), seen.clone(), seen.clone());
        let builder = PluginBuilder::new()
            .on_ready(move || async move {
                a.lock().unwrap().push("ready 1");
                Ok(())
            })
            .on_ready(move || async move {
                b.lock().unwrap().push("ready 2");
                Ok(())
            })
            .on_stop(move || async move { c.lock().unwrap().push("stop 1") })
            .on_stop(move || async move { d.lock().unwrap().push("stop 2") });
        let ready = std::mem::take(&mut *builder.ready.lock().unwrap());
        for hook in ready {
            hook().await.unwrap();
        }
        let stop = std::mem::take(&mut *builder.stop.lock().unwrap());
        for hook in stop {
            hook().await;
        }
        assert_eq!(*seen.lock().unwrap(), ["ready 1", "ready 2", "stop 1", "stop 2"]);
    }
}
