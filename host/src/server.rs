//! The server's lifecycle: starting the plugins into an [`AppState`], and stopping them.
//! The request path is in [`crate::router`].

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use abi_stable::std_types::RResult;
use daas_common::config::{ConfigFile, SiteConfig};
use daas_plugin_api::{
    events::{self, HostOperation, HostOperations, RegisteredRule},
    permissions::Permissions,
    sdk::StartConfig,
    LayerName, PluginName,
};
use futures::FutureExt as _;
use tokio::sync::watch;

use crate::{
    host_api::PluginInfo,
    loader::{self, LoadedLibrary},
    openapi,
    registry::{self, Plugin},
    state::{AppState, Operation, Parts},
};

// The host API's view of the state, here rather than in `state.rs`, so that the state
// (which `host_api` reads) does not depend on the host API's types.
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
                    // The file name only: the server's directory layout is not the
                    // client's business (`daas plugins list` shows full paths).
                    library: p.library.path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default(),
                    routes,
                    backends: p.manifest.backends.iter().map(|b| b.to_string()).collect(),
                    layers: p.manifest.layers.iter().map(|l| l.to_string()).collect(),
                    subscriptions: p.manifest.subscriptions.iter().map(|s| s.to_string()).collect(),
                    publishes: p.publishes.clone(),
                }
            })
            .collect()
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
    /// A layer is listed twice.
    #[error("layer `{0}` is listed twice in [extensions] layers of extensions.toml; each layer runs once")]
    DuplicateLayer(LayerName),
    /// A plugin declares a route the router cannot take.
    #[error("{0}")]
    Route(String),
    /// A plugin's ready hook failed.
    #[error("plugin `{name}` failed when every plugin had started (its ready hook): {message}")]
    PluginReady { name: PluginName, message: String },
    /// SIGINT or SIGTERM arrived before every plugin had started.
    #[error("interrupted by a signal while plugin `{0}` was starting")]
    Interrupted(PluginName),
}

/// How long a plugin may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(120);

async fn start_plugin(site: &SiteConfig, lib: LoadedLibrary) -> Result<Plugin, String> {
    let file = ConfigFile::of_plugin(lib.name).and_then(|f| site.files.get(&f).cloned()).unwrap_or_else(|| serde_json::json!({}));
    let config = StartConfig {
        file,
        settings: serde_json::Value::Object(lib.entry.settings.clone()),
        site_dir: std::fs::canonicalize(&site.dir).unwrap_or_else(|_| site.dir.clone()),
        backtraces: site.logging.log.backtraces,
    };
    let config = serde_json::to_string(&config).map_err(|e| e.to_string())?;
    let fut = (lib.module.start())(registry::services_for(lib.name), config.into());
    match tokio::time::timeout(START_TIMEOUT, AssertUnwindSafe(fut).catch_unwind()).await {
        Err(_) => Err(format!("did not finish starting within {} s", START_TIMEOUT.as_secs())),
        Ok(Err(_)) => Err("panicked while starting".into()),
        Ok(Ok(RResult::RErr(e))) => Err(e.into_string()),
        Ok(Ok(RResult::ROk(manifest))) => {
            let json = (lib.module.permissions())();
            let permissions: Permissions = if json.is_empty() {
                Permissions::default()
            } else {
                serde_json::from_str(&json).map_err(|e| format!("its permission rules are not the expected JSON: {e}"))?
            };
            let json = (lib.module.publishes())();
            let publishes: Vec<String> = if json.is_empty() {
                Vec::new()
            } else {
                serde_json::from_str(&json).map_err(|e| format!("its published topics are not the expected JSON: {e}"))?
            };
            for pattern in &publishes {
                events::check_pattern(pattern).map_err(|e| format!("it declares it publishes on `{pattern}`: {e}"))?;
            }
            Ok(Plugin { library: lib, manifest, permissions, publishes })
        }
    }
}

/// Load and start the site's plugins and build the shared state. On any error, and
/// when `shutdown` turns true meanwhile, the plugins started so far are stopped
/// again, last first.
pub async fn start(site: &SiteConfig, shutdown: watch::Receiver<bool>) -> Result<Arc<AppState>, StartError> {
    let (libraries, errors, warnings) = loader::load_all(site);
    for w in &warnings {
        tracing::warn!("optional plugin skipped: {w}");
    }
    if !errors.is_empty() {
        return Err(StartError::Load(errors));
    }
    let mut plugins = Vec::new();
    match start_all(site, libraries, &mut plugins, shutdown).await {
        Ok(state) => Ok(state),
        Err(e) => {
            stop_plugins(&plugins, Instant::now() + Duration::from_secs(10)).await;
            Err(e)
        }
    }
}

async fn start_all(
    site: &SiteConfig,
    libraries: Vec<LoadedLibrary>,
    plugins: &mut Vec<Plugin>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Arc<AppState>, StartError> {
    for lib in libraries {
        let (name, optional, module) = (lib.name, lib.entry.optional, lib.module);
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = start_plugin(site, lib) => outcome,
            () = requested(&mut shutdown) => {
                // Its start is abandoned (the future dropped, which cancels it inside the
                // plugin); its stop still runs, for whatever the start had set up.
                tracing::warn!(plugin = name.as_str(), "shutdown requested while the plugin was starting");
                let stop = AssertUnwindSafe((module.stop())()).catch_unwind();
                let _ = tokio::time::timeout(Duration::from_secs(5), stop).await;
                return Err(StartError::Interrupted(name));
            }
        };
        match outcome {
            Ok(plugin) => {
                plugins.push(plugin.clone());
                registry::register(plugin.clone())?;
                tracing::info!(
                    plugin = name.as_str(),
                    version = plugin.library.version,
                    ms = started.elapsed().as_millis() as u64,
                    "plugin started"
                );
            }
            Err(message) if optional => tracing::warn!("optional plugin `{name}` skipped: failed to start: {message}"),
            Err(message) => return Err(StartError::PluginStart { name, message }),
        }
    }
    let mut layers: Vec<(LayerName, Plugin)> = Vec::new();
    for layer in &site.extensions.extensions.layers {
        if layers.iter().any(|(l, _)| l == layer) {
            return Err(StartError::DuplicateLayer(*layer));
        }
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
    let (openapi, operations) = openapi::document(plugins).map_err(StartError::Route)?;
    publish_operations(plugins, &operations);
    run_ready_hooks(plugins, &mut shutdown).await?;
    Ok(AppState::new(Parts {
        plugins: plugins.clone(),
        layers,
        operations,
        openapi: serde_json::to_string_pretty(&openapi).unwrap_or_default(),
        max_body_bytes: site.extensions.extensions.max_body_bytes,
        body_pause: crate::listen::Limits::of(&site.extensions.extensions).idle_timeout,
    }))
}

/// Run every plugin's ready hook (`PluginBuilder::on_ready`), all at once, and wait for
/// them: the server listens once they are done. A failed hook stops the start, unless
/// its plugin is optional.
async fn run_ready_hooks(plugins: &[Plugin], shutdown: &mut watch::Receiver<bool>) -> Result<(), StartError> {
    let hooks = plugins.iter().map(|p| {
        let fut = AssertUnwindSafe((p.module().ready())()).catch_unwind();
        async move {
            let outcome = match tokio::time::timeout(START_TIMEOUT, fut).await {
                Err(_) => Err(format!("did not finish within {} s", START_TIMEOUT.as_secs())),
                Ok(Err(_)) => Err("panicked".to_string()),
                Ok(Ok(RResult::RErr(e))) => Err(e.into_string()),
                Ok(Ok(RResult::ROk(()))) => Ok(()),
            };
            (p, outcome)
        }
    });
    let outcomes = tokio::select! {
        outcomes = futures::future::join_all(hooks) => outcomes,
        () = requested(shutdown) => {
            let name = plugins.last().map_or(PluginName::Extensions, Plugin::name);
            return Err(StartError::Interrupted(name));
        }
    };
    for (plugin, outcome) in outcomes {
        match outcome {
            Ok(()) => {}
            Err(message) if plugin.library.entry.optional => {
                tracing::warn!(plugin = plugin.name().as_str(), "optional plugin's ready hook failed: {message}")
            }
            Err(message) => return Err(StartError::PluginReady { name: plugin.name(), message }),
        }
    }
    Ok(())
}

/// Plugins cannot read the merged document: it exists only after they have all started,
/// and fetching `/openapi.json` over loopback would tie a plugin to the listen address.
/// So the host hands them its operations as an event ([`HostOperations`]): each with
/// the permission rule its plugin requires, and every plugin's rule catalogue.
fn publish_operations(plugins: &[Plugin], operations: &[Operation]) {
    let ops = operations
        .iter()
        .map(|o| HostOperation {
            operation_id: o.operation_id.clone(),
            method: o.method.clone(),
            path: o.path.clone(),
            plugin: o.tag.clone(),
            public: o.public,
            rule: o.rule.clone(),
        })
        .collect();
    let mut rules = Vec::new();
    for p in plugins {
        let name = p.name().as_str();
        for info in p.permissions.catalogue() {
            rules.push(RegisteredRule { rule: info.rule, description: info.description, plugin: name.to_string() });
        }
        let documented: std::collections::HashSet<&str> =
            operations.iter().filter(|o| o.tag == name).map(|o| o.operation_id.as_str()).collect();
        for op in p.permissions.operations.keys() {
            if !documented.contains(format!("{name}_{op}").as_str()) {
                tracing::warn!(
                    plugin = name,
                    operation = op.as_str(),
                    "a permission rule is required for an operation the plugin does not have"
                );
            }
        }
    }
    let unruled: Vec<&str> = operations.iter().filter(|o| !o.public && o.rule.is_none()).map(|o| o.operation_id.as_str()).collect();
    if !unruled.is_empty() {
        tracing::debug!(operations = ?unruled, "operations without a permission rule: any authenticated caller passes the role check");
    }
    registry::publish_host_event(&HostOperations { operations: ops, rules });
}

/// Start one plugin on its own, outside a server (the `daas db`, `import` and `export`
/// commands), and register it so that its backends are callable. Stop it with
/// [`stop_plugins`].
pub async fn start_one(site: &SiteConfig, lib: LoadedLibrary) -> Result<Plugin, StartError> {
    let name = lib.name;
    let plugin = start_plugin(site, lib).await.map_err(|message| StartError::PluginStart { name, message })?;
    if let Err(e) = registry::register(plugin.clone()) {
        stop_plugins(std::slice::from_ref(&plugin), Instant::now() + Duration::from_secs(10)).await;
        return Err(e.into());
    }
    Ok(plugin)
}

/// Stop plugins, last started first, all within one deadline (each gets what is left,
/// at least half a second).
pub async fn stop_plugins(plugins: &[Plugin], deadline: Instant) {
    for plugin in plugins.iter().rev() {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(500));
        let fut = (plugin.module().stop())();
        match tokio::time::timeout(left, AssertUnwindSafe(fut).catch_unwind()).await {
            Ok(Ok(())) => tracing::info!(plugin = plugin.name().as_str(), "plugin stopped"),
            Ok(Err(_)) => tracing::error!(plugin = plugin.name().as_str(), "plugin panicked while stopping"),
            Err(_) => tracing::warn!(plugin = plugin.name().as_str(), "plugin did not stop within {} ms", left.as_millis()),
        }
    }
}

/// Take over SIGINT and SIGTERM from here on (they no longer end the process at once):
/// the receiver turns true when either arrives. Installed before the plugins start, so
/// that a signal during start-up stops the plugins already started.
pub fn watch_signals() -> std::io::Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tx.send_replace(true);
    });
    Ok(rx)
}

/// Resolves once `shutdown` is true.
pub async fn requested(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone without a signal: then none will come.
    if shutdown.wait_for(|&requested| requested).await.is_err() {
        std::future::pending::<()>().await
    }
}
