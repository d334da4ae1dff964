//! An in-process test harness (feature `testing`): start a plugin's API, backends and
//! layers inside a test, without the host binary, so that a plugin's behaviour tests
//! live in `plugins/<name>/tests` and run in milliseconds.
//!
//! The plugin runs as the host would run it, minus the dylib boundary: its start
//! function gets a [`PluginContext`] with the configuration the test gives, its API
//! answers requests with the caller's identity attached as the auth layer would attach
//! it, and its calls to other plugins' backends reach what the test provides: a fake (a
//! closure), or the real thing in-process (another plugin's backend handler, a
//! `daas_plugin_db` store).
//!
//! ```ignore
//! use daas_plugin_api::{identity::Identity, sdk::testing::TestPlugin, test_plugin};
//!
//! let plugin = TestPlugin::new(test_plugin!(daas_plugin_info))
//!     .config(serde_json::json!({ "sys": { "site_name": "test" } }))
//!     .start()
//!     .await
//!     .unwrap();
//! let alice = Identity { user_id: 2, user_name: "alice".into(), admin: false };
//! let answer = plugin.api().get("/system").caller(&alice).send().await;
//! answer.assert_status_is_ok();
//! ```
//!
//! What is not here: the host's routing across plugins, its layers in the site's order,
//! WebSocket upgrades and the host's TCP connections. Tests of those start the real
//! binary (`host/tests`).

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, OnceLock},
};

use abi_stable::{
    prefix_type::WithMetadata,
    std_types::{RResult, RStr, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt as _};
use poem::{
    endpoint::BoxEndpoint,
    test::{TestClient, TestRequestBuilder},
};
use serde_json::Value;

use super::{builder::BackendHandler, dispatch::Endpoints, host, BackendProtocol, Layer, PluginBuilder, PluginContext, StartFn};
use crate::{
    abi::PluginModRef,
    abi::{BackendError, BackendErrorKind, HostExt, HostExtRef, HostServices, HostTcpBox, LogLevel},
    identity::Identity,
    names::{BackendName, LayerName, PluginName},
    sdk::Attributes,
};

/// Name and start function of a plugin crate, as `export_plugin!` declared them; made
/// by [`test_plugin!`](crate::test_plugin).
#[derive(Clone, Copy)]
pub struct Declared {
    /// The plugin's name.
    pub name: PluginName,
    /// Its start function.
    pub start: StartFn,
}

/// The [`Declared`] plugin of a plugin crate: `test_plugin!(daas_plugin_db)`.
#[macro_export]
macro_rules! test_plugin {
    ($krate:path) => {{
        use $krate as plugin_crate;
        $crate::sdk::testing::Declared { name: plugin_crate::DAAS_PLUGIN_NAME, start: plugin_crate::daas_plugin_start }
    }};
}

/// The backends and events of this test process's in-process host. One per process:
/// the SDK's host handle is process-wide, as it is in a plugin library (nextest runs
/// each test in its own process).
#[derive(Default)]
struct Bus {
    backends: HashMap<BackendName, BackendHandler>,
    events: Vec<(String, Value)>,
}

fn bus() -> &'static Mutex<Bus> {
    static BUS: OnceLock<Mutex<Bus>> = OnceLock::new();
    BUS.get_or_init(Default::default)
}

fn lock() -> std::sync::MutexGuard<'static, Bus> {
    bus().lock().unwrap_or_else(|p| p.into_inner())
}

extern "C" fn log(_plugin: PluginName, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
    match level {
        LogLevel::Error => tracing::error!(target: "plugin", plugin_target = target.as_str(), "{}", message.as_str()),
        LogLevel::Warn => tracing::warn!(target: "plugin", plugin_target = target.as_str(), "{}", message.as_str()),
        _ => tracing::debug!(target: "plugin", plugin_target = target.as_str(), "{}", message.as_str()),
    }
}

extern "C" fn call_backend(_caller: PluginName, backend: BackendName, request: RVec<u8>) -> FfiFuture<RResult<RVec<u8>, BackendError>> {
    let handler = lock().backends.get(&backend).cloned();
    async move {
        let Some(handler) = handler else {
            return RResult::RErr(BackendError::new(
                BackendErrorKind::NotAvailable,
                format!("no plugin provides backend `{backend}` in this test: give it with TestPlugin::backend"),
            ));
        };
        handler(request.into_vec()).await.map(RVec::from).into()
    }
    .into_ffi()
}

extern "C" fn publish(plugin: PluginName, topic: RStr<'_>, payload: RString) {
    let _ = try_publish(plugin, topic, payload);
}

extern "C" fn try_publish(_plugin: PluginName, topic: RStr<'_>, payload: RString) -> RResult<(), BackendError> {
    let value = serde_json::from_str(&payload).unwrap_or(Value::Null);
    lock().events.push((topic.to_string(), value));
    RResult::ROk(())
}

extern "C" fn connect_tcp(_plugin: PluginName, address: RString, _timeout_ms: u64) -> FfiFuture<RResult<HostTcpBox, RString>> {
    let message = format!("the test harness opens no TCP connections (to {address}); test this in host/tests with the real binary");
    async move { RResult::RErr(message.into()) }.into_ffi()
}

const HOST_EXT: &WithMetadata<HostExt> = &WithMetadata::new(HostExt { connect_tcp, publish: try_publish });

fn services(plugin: PluginName) -> HostServices {
    HostServices { plugin, max_level: LogLevel::Debug, log, call_backend, publish, ext: HostExtRef(HOST_EXT.static_as_prefix()) }
}

/// A plugin to start in a test: its declaration, its configuration and the other
/// plugins' backends it may call.
pub struct TestPlugin {
    declared: Declared,
    libraries: Vec<(PluginName, Value)>,
    file: Value,
    settings: Value,
    site_dir: std::path::PathBuf,
}

impl TestPlugin {
    /// The plugin of `test_plugin!(crate)`, with an empty configuration (every default).
    pub fn new(declared: Declared) -> TestPlugin {
        TestPlugin {
            declared,
            libraries: Vec::new(),
            file: serde_json::json!({}),
            settings: serde_json::json!({}),
            site_dir: std::env::temp_dir(),
        }
    }

    /// Its config file as JSON (what the host would hand it after validation; keys
    /// left out take their serde defaults).
    pub fn config(mut self, file: Value) -> TestPlugin {
        self.file = file;
        self
    }

    /// The `settings` table of its `[[extensions.plugin]]` entry.
    pub fn settings(mut self, settings: Value) -> TestPlugin {
        self.settings = settings;
        self
    }

    /// The site directory relative paths resolve against (default: the temp dir).
    pub fn site_dir(mut self, dir: impl Into<std::path::PathBuf>) -> TestPlugin {
        self.site_dir = dir.into();
        self
    }

    /// Provide another plugin's backend: a fake, or the real handler in-process. The
    /// plugin's calls to `P`'s backend reach `handler`.
    pub fn backend<P, F, Fut>(self, handler: F) -> TestPlugin
    where
        P: BackendProtocol,
        F: Fn(P::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<P::Response, BackendError>> + Send + 'static,
    {
        lock().backends.insert(P::NAME, super::builder::typed_backend::<P, _, _>(handler));
        self
    }

    /// Another plugin, real: its library as the workspace built it
    /// (`target/<profile>/libdaas_plugin_<name>.so`), loaded and started like the host
    /// loads and starts it, with `file` as its config file; its backends answer this
    /// plugin's calls. (Linking a second plugin crate into a test is impossible: each
    /// defines the library's root-module symbol.) Build it first:
    /// `cargo build -p daas-plugin-<name>`.
    pub fn library(mut self, name: PluginName, file: Value) -> TestPlugin {
        self.libraries.push((name, file));
        self
    }

    /// Start it: run its start function. Its own backends join the in-process host, so
    /// that it (and later plugins of the same test) can call them.
    /// Then, as the host does once every plugin started, run the libraries' and its
    /// own ready hooks.
    pub async fn start(self) -> Result<Started, String> {
        let mut libraries = Vec::new();
        for (name, file) in &self.libraries {
            libraries.push((*name, start_library(*name, file, &self.site_dir).await?));
        }
        let host = host::install(services(self.declared.name));
        let ctx = PluginContext { host, file: self.file, settings: self.settings, site_dir: self.site_dir };
        let builder = (self.declared.start)(ctx).await?;
        builder.manifest()?;
        let started = Started::new(self.declared.name, builder);
        for (name, module) in libraries {
            if let RResult::RErr(e) = (module.ready())().await {
                return Err(format!("plugin `{name}` is not ready: {e}"));
            }
        }
        let hooks = std::mem::take(&mut *started.builder.ready.lock().unwrap_or_else(|e| e.into_inner()));
        for hook in hooks {
            hook().await.map_err(|e| format!("plugin `{}` is not ready: {e}", started.name))?;
        }
        Ok(started)
    }
}

/// A client of an endpoint that answers errors as the SDK does across the boundary
/// (the JSON error body), so that a test sees what a client of the host sees.
fn client(endpoints: Endpoints) -> TestClient<BoxEndpoint<'static>> {
    use poem::EndpointExt as _;
    TestClient::new(Picked(endpoints).catch_all_error(|e| async move { super::http::error_to_response(e) }).boxed())
}

/// Several endpoints as one: each request goes to the one that declares it, as the
/// SDK routes them across the boundary.
struct Picked(Endpoints);

impl poem::Endpoint for Picked {
    type Output = poem::Response;

    async fn call(&self, req: poem::Request) -> poem::Result<poem::Response> {
        let endpoint = self
            .0
            .pick(req.method().as_str(), req.uri().path())
            .ok_or_else(|| poem::Error::from_status(poem::http::StatusCode::NOT_FOUND))?;
        endpoint.call(req).await
    }
}

/// Load and start a plugin library; its backends join the in-process host.
async fn start_library(name: PluginName, file: &Value, site_dir: &std::path::Path) -> Result<PluginModRef, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // Test executables live in target/<profile>/deps; libraries one level up.
    let dir = exe.parent().and_then(std::path::Path::parent).ok_or("no target directory above the test executable")?;
    let path = dir.join(format!("{}daas_plugin_{}{}", std::env::consts::DLL_PREFIX, name, std::env::consts::DLL_SUFFIX));
    if !path.exists() {
        return Err(format!("plugin library {} is missing: build it first (cargo build -p daas-plugin-{name})", path.display()));
    }
    let header = abi_stable::library::lib_header_from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let module = header.init_root_module::<PluginModRef>().map_err(|e| format!("{}: {e}", path.display()))?;
    let config = serde_json::json!({ "file": file, "settings": {}, "site_dir": site_dir }).to_string();
    let manifest = match (module.start())(services(name), config.into()).await {
        RResult::ROk(manifest) => manifest,
        RResult::RErr(e) => return Err(format!("plugin `{name}` did not start: {e}")),
    };
    let call = module.call_backend();
    let mut bus = lock();
    for backend in manifest.backends.iter().copied() {
        let handler: BackendHandler = Arc::new(move |request: Vec<u8>| {
            Box::pin(async move { call(backend, request.into()).await.into_result().map(RVec::into_vec) })
        });
        bus.backends.insert(backend, handler);
    }
    Ok(module)
}

/// A started plugin: its API, its backends, its layers, the events it published.
pub struct Started {
    name: PluginName,
    api: Option<TestClient<BoxEndpoint<'static>>>,
    browser: Option<TestClient<BoxEndpoint<'static>>>,
    spec: String,
    /// Its layers, subscriptions and hooks; kept so that what the plugin's start left in
    /// it (its stop hook) lives as long as the test's plugin.
    builder: PluginBuilder,
}

impl Started {
    fn new(name: PluginName, mut builder: PluginBuilder) -> Started {
        {
            let mut bus = lock();
            for (backend, handler) in &builder.backends {
                bus.backends.insert(*backend, handler.clone());
            }
        }
        let spec = builder.document.to_json();
        let api = (!spec.is_empty()).then(|| client(std::mem::take(&mut builder.api)));
        let browser = (!builder.browser_routes.is_empty()).then(|| client(std::mem::take(&mut builder.browser)));
        Started { name, api, browser, spec, builder }
    }

    /// The plugin's name.
    pub fn name(&self) -> PluginName {
        self.name
    }

    /// Its API, at the paths under its `/api/v1/<plugin>` prefix (`/objects`, not
    /// `/api/v1/db/objects`). Panics when the plugin has no API: a test bug.
    pub fn api(&self) -> Api<'_> {
        Api { client: self.api.as_ref().unwrap_or_else(|| panic!("plugin `{}` declares no API", self.name)) }
    }

    /// Its browser routes, at their full paths (`/`, `/login`).
    pub fn browser(&self) -> Api<'_> {
        Api { client: self.browser.as_ref().unwrap_or_else(|| panic!("plugin `{}` declares no browser routes", self.name)) }
    }

    /// The OpenAPI document of its API (JSON).
    pub fn openapi(&self) -> Value {
        serde_json::from_str(&self.spec).unwrap_or(Value::Null)
    }

    /// Call a backend through the in-process host: its own, or one the test provided.
    pub async fn call<P: BackendProtocol>(&self, request: &P::Request) -> Result<P::Response, BackendError> {
        host::host().call::<P>(request).await
    }

    /// One of its layers. Panics when the plugin does not provide it: a test bug.
    pub fn layer(&self, name: LayerName) -> Arc<dyn Layer> {
        self.builder.layers.get(&name).cloned().unwrap_or_else(|| panic!("plugin `{}` provides no layer `{name}`", self.name))
    }

    /// Deliver an event to its subscriptions, as the host's bus would.
    pub async fn deliver(&self, topic: &str, payload: Value) {
        for handler in self.builder.subscribers(topic) {
            handler(topic.to_string(), payload.clone()).await;
        }
    }

    /// The events published in this test process so far (topic, payload), oldest first.
    pub fn published(&self) -> Vec<(String, Value)> {
        lock().events.clone()
    }
}

/// Requests to a plugin's API or browser routes.
pub struct Api<'a> {
    client: &'a TestClient<BoxEndpoint<'static>>,
}

macro_rules! method {
    ($name:ident) => {
        /// A request with this method; add `.caller(&who)` to attach an identity.
        pub fn $name(&self, path: impl Into<String>) -> TestRequestBuilder<'a, BoxEndpoint<'static>> {
            self.client.$name(path).data(Attributes::default())
        }
    };
}

impl<'a> Api<'a> {
    /// One JSON request: `method` on `path`, as `who` (none: no caller), with `body`;
    /// answers the status and the JSON body (`null` when the body is empty or no JSON).
    pub async fn json(&self, who: Option<&Identity>, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = poem::http::Method::from_bytes(method.as_bytes()).unwrap_or_else(|_| panic!("`{method}` is no HTTP method"));
        let mut request = self.client.request(method, path.to_string()).data(Attributes::default());
        if let Some(who) = who {
            request = request.caller(who);
        }
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        let response = request.send().await.0;
        let status = response.status().as_u16();
        let bytes = response.into_body().into_bytes().await.unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    method!(get);
    method!(post);
    method!(put);
    method!(patch);
    method!(delete);
}

/// Attach a caller to a test request, as the auth layer attaches one.
pub trait AsCaller {
    /// The request with `who` attached as its caller.
    fn caller(self, who: &Identity) -> Self;
}

impl<'a> AsCaller for TestRequestBuilder<'a, BoxEndpoint<'static>> {
    fn caller(self, who: &Identity) -> Self {
        let attributes = Attributes(who.to_attributes().into_iter().collect());
        self.data(attributes)
    }
}
