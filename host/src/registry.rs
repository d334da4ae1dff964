//! The started plugins and what they contribute, and the services the host offers them
//! (the `extern "C"` functions of [`HostServices`]).
//!
//! The registry is process-global because the host services are plain function pointers
//! that plugins call from their own threads; it only grows while plugins start and is
//! read-only afterwards.

use std::{
    collections::BTreeMap,
    sync::{LazyLock, OnceLock, RwLock},
    time::Instant,
};

use abi_stable::{
    prefix_type::WithMetadata,
    std_types::{RResult, RStr, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt as _};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind, HostExt, HostExtRef, HostServices, LogLevel, PluginManifest, PluginModRef},
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
static RUNTIME: OnceLock<tokio::runtime::Handle> = OnceLock::new();
/// The event deliveries under way: shutdown waits for them before stopping plugins, so
/// that a handler is not cut off half-way by its plugin's stop or the process's exit.
static EVENTS: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);
static MAX_LEVEL: OnceLock<LogLevel> = OnceLock::new();

/// Remember the host runtime (events are delivered on it) and the log level.
pub fn init(runtime: tokio::runtime::Handle, max_level: LogLevel) {
    let _ = RUNTIME.set(runtime);
    let _ = MAX_LEVEL.set(max_level);
}

/// The host's runtime, once `init` ran.
pub fn runtime() -> Option<tokio::runtime::Handle> {
    RUNTIME.get().cloned()
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
const HOST_EXT: &WithMetadata<HostExt> = &WithMetadata::new(HostExt { connect_tcp: crate::net::connect_tcp });

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

/// Whether a subscription pattern matches a topic (`*` suffix: prefix match).
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => topic.starts_with(prefix),
        None => pattern == topic,
    }
}

/// Publish an event from the host itself, as `extensions` (the seed's name for the part
/// that manages plugins), to the plugins subscribed to the topic.
pub fn publish(topic: &str, payload: &serde_json::Value) {
    host_publish(PluginName::Extensions, topic.into(), payload.to_string().into());
}

extern "C" fn host_publish(plugin: PluginName, topic: RStr<'_>, payload: RString) {
    let topic = topic.as_str().to_string();
    tracing::debug!(plugin = plugin.as_str(), topic, "event published");
    let Some(runtime) = RUNTIME.get() else { return };
    for p in plugins() {
        if p.manifest.subscriptions.iter().any(|s| topic_matches(s, &topic)) {
            let fut = (p.module().on_event())(topic.as_str().into(), payload.clone());
            EVENTS.spawn_on(
                async move {
                    if std::panic::AssertUnwindSafe(fut).catch_unwind().await.is_err() {
                        tracing::error!(plugin = p.name().as_str(), "event handler panicked across the boundary");
                    }
                },
                runtime,
            );
        }
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn topics_match_exactly_or_by_prefix() {
        assert!(super::topic_matches("*", "a.b"));
        assert!(super::topic_matches("instance.*", "instance.started"));
        assert!(!super::topic_matches("instance.*", "object.created"));
        assert!(super::topic_matches("x", "x"));
        assert!(!super::topic_matches("x", "xy"));
    }
}
