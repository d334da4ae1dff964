//! The started plugins and what they contribute, and the services the host offers them
//! (the `extern "C"` functions of [`HostServices`]).
//!
//! The registry is process-global because the host services are plain function pointers
//! that plugins call from their own threads; it only grows while plugins start and is
//! read-only afterwards.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, LazyLock, Mutex, OnceLock, RwLock,
    },
    time::{Duration, Instant},
};

use abi_stable::{
    prefix_type::WithMetadata,
    std_types::{RResult, RStr, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt as _};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind, HostExt, HostExtRef, HostServices, LogLevel, PluginManifest, PluginModRef},
    events::{self, HostEvent},
    permissions::Permissions,
    sdk::BackendProtocol,
    BackendName, LayerName, PluginName,
};
use futures::FutureExt as _;
use tokio_util::task::TaskTracker;

use crate::loader::LoadedLibrary;

/// A started plugin.
#[derive(Clone)]
pub struct Plugin {
    /// The library it came from.
    pub library: LoadedLibrary,
    /// What it contributes.
    pub manifest: PluginManifest,
    /// Its permission rules and the rule each operation needs (empty for plugins built
    /// before the `permissions` export).
    pub permissions: Permissions,
    /// The topic patterns it may publish on (checked at start; empty for plugins built
    /// before the `publishes` export).
    pub publishes: Vec<String>,
}

impl Plugin {
    /// The plugin's name.
    pub fn name(&self) -> PluginName {
        self.library.name
    }
    /// The root module.
    pub fn module(&self) -> PluginModRef {
        self.library.module
    }
}

#[derive(Default)]
struct Tables {
    plugins: Vec<Plugin>,
    backends: BTreeMap<BackendName, usize>,
}

static TABLES: RwLock<Tables> = RwLock::new(Tables { plugins: Vec::new(), backends: BTreeMap::new() });
/// The event deliveries under way: shutdown waits for them before stopping plugins, so
/// that a handler is not cut off half-way by its plugin's stop or the process's exit.
static EVENTS: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);
static MAX_LEVEL: OnceLock<LogLevel> = OnceLock::new();

/// Remember the host runtime (events are delivered on it, plugins' sockets live on it)
/// and the log level.
pub fn init(runtime: tokio::runtime::Handle, max_level: LogLevel) {
    crate::net::init(runtime);
    let _ = MAX_LEVEL.set(max_level);
}

/// Why a started plugin could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Two plugins provide the same backend.
    #[error("backend `{backend}` is provided by both `{first}` and `{second}`; load only one of them")]
    DuplicateBackend { backend: BackendName, first: PluginName, second: PluginName },
    /// Two plugins provide the same layer.
    #[error("layer `{layer}` is provided by both `{first}` and `{second}`; load only one of them")]
    DuplicateLayer { layer: LayerName, first: PluginName, second: PluginName },
}

/// Add a started plugin; its backends become callable at once.
pub fn register(plugin: Plugin) -> Result<(), RegisterError> {
    let mut t = TABLES.write().unwrap_or_else(|p| p.into_inner());
    let index = t.plugins.len();
    for backend in plugin.manifest.backends.iter() {
        if let Some(&other) = t.backends.get(backend) {
            return Err(RegisterError::DuplicateBackend { backend: *backend, first: t.plugins[other].name(), second: plugin.name() });
        }
    }
    for layer in plugin.manifest.layers.iter() {
        if let Some(other) = t.plugins.iter().find(|p| p.manifest.layers.contains(layer)) {
            return Err(RegisterError::DuplicateLayer { layer: *layer, first: other.name(), second: plugin.name() });
        }
    }
    for backend in plugin.manifest.backends.iter() {
        t.backends.insert(*backend, index);
    }
    t.plugins.push(plugin);
    Ok(())
}

/// The started plugins, in start order.
pub fn plugins() -> Vec<Plugin> {
    TABLES.read().unwrap_or_else(|p| p.into_inner()).plugins.clone()
}

/// The plugin providing a layer.
pub fn layer_provider(layer: LayerName) -> Option<Plugin> {
    TABLES.read().unwrap_or_else(|p| p.into_inner()).plugins.iter().find(|p| p.manifest.layers.contains(&layer)).cloned()
}

/// The services handed to `plugin` at start.
pub fn services_for(plugin: PluginName) -> HostServices {
    HostServices {
        plugin,
        max_level: *MAX_LEVEL.get().unwrap_or(&LogLevel::Info),
        log: host_log,
        call_backend: host_call_backend,
        publish: host_publish,
        ext: HostExtRef(HOST_EXT.static_as_prefix()),
    }
}

/// The services added after `HostServices` was frozen.
const HOST_EXT: &WithMetadata<HostExt> = &WithMetadata::new(HostExt { connect_tcp: crate::net::connect_tcp, publish: host_try_publish });

extern "C" fn host_log(plugin: PluginName, level: LogLevel, target: RStr<'_>, message: RStr<'_>) {
    let (plugin, target, message) = (plugin.as_str(), target.as_str(), message.as_str());
    match level {
        LogLevel::Error => tracing::error!(target: "daas::plugin", plugin, plugin_target = target, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "daas::plugin", plugin, plugin_target = target, "{message}"),
        LogLevel::Info => tracing::info!(target: "daas::plugin", plugin, plugin_target = target, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "daas::plugin", plugin, plugin_target = target, "{message}"),
        LogLevel::Trace => tracing::trace!(target: "daas::plugin", plugin, plugin_target = target, "{message}"),
    }
}

fn backend_error(kind: BackendErrorKind, message: String) -> FfiFuture<RResult<RVec<u8>, BackendError>> {
    std::future::ready(RResult::RErr(BackendError::new(kind, message))).into_ffi()
}

extern "C" fn host_call_backend(caller: PluginName, backend: BackendName, request: RVec<u8>) -> FfiFuture<RResult<RVec<u8>, BackendError>> {
    let provider = {
        let t = TABLES.read().unwrap_or_else(|p| p.into_inner());
        t.backends.get(&backend).map(|&i| t.plugins[i].clone())
    };
    let Some(provider) = provider else {
        return backend_error(
            BackendErrorKind::NotAvailable,
            format!(
                "no loaded plugin provides backend `{backend}` (asked by `{caller}`); add the plugin that provides it to extensions.toml"
            ),
        );
    };
    let fut = (provider.module().call_backend())(backend, request);
    let name = provider.name();
    // The plugin catches its own panics; this is the safety net for one that does not
    // (async-ffi re-raises a panic from the plugin's poll in ours).
    std::panic::AssertUnwindSafe(fut)
        .catch_unwind()
        .map(move |r| match r {
            Ok(v) => v,
            Err(_) => {
                tracing::error!(plugin = name.as_str(), "backend `{backend}` panicked across the boundary");
                RResult::RErr(BackendError::new(BackendErrorKind::Internal, format!("backend `{backend}` of plugin `{name}` panicked")))
            }
        })
        .into_ffi()
}

/// Call a backend from the host itself (the `daas db`, `import` and `export` commands),
/// through the same path as a plugin's call.
pub async fn call<P: BackendProtocol>(request: &P::Request) -> Result<P::Response, BackendError> {
    let bytes = serde_json::to_vec(request).map_err(|e| {
        BackendError::new(BackendErrorKind::BadRequest, format!("request for backend `{}` could not be encoded: {e}", P::NAME))
    })?;
    // The caller's name only appears in the "not available" message; `extensions` is
    // the seed's name for the part that manages plugins, which is the host.
    let answer = host_call_backend(PluginName::Extensions, P::NAME, RVec::from(bytes)).await.into_result()?;
    serde_json::from_slice(&answer).map_err(|e| {
        BackendError::new(
            BackendErrorKind::Internal,
            format!("answer of backend `{}` could not be decoded: {e}; is the plugin of this build?", P::NAME),
        )
    })
}

/// Publish one of the host's events, as `extensions` (the seed's name for the part that
/// manages plugins), to the plugins subscribed to its topic.
pub fn publish_host_event<E: HostEvent>(event: &E) {
    let topic = E::TOPIC;
    let payload = match serde_json::to_string(event) {
        Ok(p) => p,
        Err(e) => return tracing::error!("the host's event on `{topic}` could not be encoded: {e}"),
    };
    if let Err(e) = publish_event(PluginName::Extensions, topic, payload.into()) {
        tracing::warn!("the host's event on `{topic}` was not published: {}", e.message);
    }
}

extern "C" fn host_publish(plugin: PluginName, topic: RStr<'_>, payload: RString) {
    let _ = publish_event(plugin, topic.as_str(), payload);
}

extern "C" fn host_try_publish(plugin: PluginName, topic: RStr<'_>, payload: RString) -> RResult<(), BackendError> {
    publish_event(plugin, topic.as_str(), payload).into()
}

/// A warning that may repeat at a client's pace (a route that publishes), logged at most
/// once per interval with the number of repeats left out since.
struct Throttled {
    next: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Throttled {
    const INTERVAL: Duration = Duration::from_secs(10);

    const fn new() -> Self {
        Throttled { next: Mutex::new(None), suppressed: AtomicU64::new(0) }
    }

    fn warn(&self, plugin: PluginName, message: &str) {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if next.is_some_and(|n| now < n) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *next = Some(now + Self::INTERVAL);
        let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
        tracing::warn!(plugin = plugin.as_str(), suppressed, "{message}");
    }
}

static REFUSED: Throttled = Throttled::new();
static BUSY: Throttled = Throttled::new();

/// Events under way (some delivery not finished), per topic and in all.
#[derive(Default)]
struct Pending {
    per_topic: HashMap<String, usize>,
    total: usize,
}

static PENDING: LazyLock<Mutex<Pending>> = LazyLock::new(Default::default);

/// One event under way, shared by its deliveries; the last to finish ends it.
struct PendingEvent(String);

impl PendingEvent {
    /// Count an event under way, unless its topic or the bus is full.
    fn reserve(topic: &str) -> Result<PendingEvent, String> {
        let mut p = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        let of_topic = p.per_topic.get(topic).copied().unwrap_or(0);
        if of_topic >= events::MAX_PENDING_PER_TOPIC {
            return Err(format!("{of_topic} events on `{topic}` are still being delivered (at most {})", events::MAX_PENDING_PER_TOPIC));
        }
        if p.total >= events::MAX_PENDING {
            return Err(format!("{} events are still being delivered (at most {})", p.total, events::MAX_PENDING));
        }
        *p.per_topic.entry(topic.to_string()).or_default() += 1;
        p.total += 1;
        Ok(PendingEvent(topic.to_string()))
    }
}

impl Drop for PendingEvent {
    fn drop(&mut self) {
        let mut p = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        p.total -= 1;
        if let Some(n) = p.per_topic.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                p.per_topic.remove(&self.0);
            }
        }
    }
}

/// Whether `plugin` may publish `payload` on `topic`: a topic it declared, not the
/// host's, well-formed, a payload within bounds. The host (`extensions`) may publish
/// anything.
fn check_publish(plugin: PluginName, topic: &str, payload: &str) -> Result<(), BackendError> {
    if plugin == PluginName::Extensions {
        return Ok(());
    }
    let refused = |kind, why: String| BackendError::new(kind, format!("plugin `{plugin}` may not publish on `{}`: {why}", shown(topic)));
    events::check_topic(topic).map_err(|e| {
        let kind = if matches!(e, events::TopicError::Host(_)) { BackendErrorKind::Forbidden } else { BackendErrorKind::BadRequest };
        refused(kind, e.to_string())
    })?;
    let declared = {
        let t = TABLES.read().unwrap_or_else(|p| p.into_inner());
        t.plugins.iter().find(|p| p.name() == plugin).map(|p| p.publishes.clone())
    };
    let Some(declared) = declared else {
        return Err(refused(BackendErrorKind::Forbidden, "events can be published once the plugin has started".into()));
    };
    if !declared.iter().any(|pattern| events::matches(pattern, topic)) {
        let declared = if declared.is_empty() { "none".to_string() } else { declared.join(", ") };
        return Err(refused(
            BackendErrorKind::Forbidden,
            format!("it is not among the topics the plugin declared ({declared}); a plugin declares them with PluginBuilder::publishes"),
        ));
    }
    if payload.len() > events::MAX_PAYLOAD_BYTES {
        return Err(refused(
            BackendErrorKind::BadRequest,
            format!("the payload has {} bytes, at most {} are taken", payload.len(), events::MAX_PAYLOAD_BYTES),
        ));
    }
    Ok(())
}

/// The start of a topic fit for a message (a refused one may be long).
fn shown(topic: &str) -> String {
    let mut end = topic.len().min(events::MAX_TOPIC_BYTES);
    while !topic.is_char_boundary(end) {
        end -= 1;
    }
    if end < topic.len() {
        format!("{}…", &topic[..end])
    } else {
        topic.to_string()
    }
}

/// Deliver an event to the plugins subscribed to its topic, if the bus takes it;
/// refusals are logged (at most every few seconds) and returned.
fn publish_event(plugin: PluginName, topic: &str, payload: RString) -> Result<(), BackendError> {
    if let Err(e) = check_publish(plugin, topic, &payload) {
        REFUSED.warn(plugin, &e.message);
        return Err(e);
    }
    tracing::debug!(plugin = plugin.as_str(), topic, "event published");
    let Some(runtime) = crate::net::runtime() else { return Ok(()) };
    let subscribers: Vec<Plugin> =
        plugins().into_iter().filter(|p| p.manifest.subscriptions.iter().any(|s| events::matches(s, topic))).collect();
    if subscribers.is_empty() {
        return Ok(());
    }
    let pending = match PendingEvent::reserve(topic) {
        Ok(p) => Arc::new(p),
        Err(why) => {
            let message = format!("the event bus is busy: {why}; plugin `{plugin}`'s event on `{topic}` was not published");
            BUSY.warn(plugin, &message);
            return Err(BackendError::new(BackendErrorKind::Unavailable, message));
        }
    };
    for p in subscribers {
        let fut = (p.module().on_event())(topic.into(), payload.clone());
        let pending = pending.clone();
        EVENTS.spawn_on(
            async move {
                if std::panic::AssertUnwindSafe(fut).catch_unwind().await.is_err() {
                    tracing::error!(plugin = p.name().as_str(), "event handler panicked across the boundary");
                }
                drop(pending);
            },
            &runtime,
        );
    }
    Ok(())
}

/// Wait until every event delivery under way has finished, or the deadline passes
/// (then the rest are abandoned, and say so). Events published meanwhile are still
/// delivered and waited for: a handler may publish in turn.
pub async fn drain_events(deadline: Instant) {
    EVENTS.close();
    let left = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(left, EVENTS.wait()).await.is_err() {
        tracing::warn!(pending = EVENTS.len(), "shutdown: event deliveries still running at the deadline are abandoned");
    }
}
