//! `extensions.toml`.

use super::*;

file! {
    /// `extensions.toml`: what the host loads and how it serves.
    ExtensionsFile {
        /// `[extensions]`
        extensions: ExtensionsSection,
    }
}

/// `[extensions]`: the host's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct ExtensionsSection {
    /// Address the server listens on (`--listen` overrides it). Keep it on loopback
    /// unless a TLS-terminating proxy is in front.
    pub listen: String,
    /// Directory the plugin libraries are found in, relative to the site directory
    /// unless absolute. A plugin's library is `<library_dir>/libdaas_plugin_<name>.so`
    /// unless its entry names `library`.
    pub library_dir: PathBuf,
    /// Layers, in the order they run around every plugin route (first = outermost).
    /// Each must be provided by a loaded plugin.
    pub layers: Vec<LayerName>,
    /// How long a graceful shutdown waits for in-flight requests, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Largest request body accepted, in bytes (larger: 413, before any of it is read
    /// when the request says its length).
    pub max_body_bytes: usize,
    /// How long a request's head may take to arrive, in milliseconds: a new connection's
    /// first request counted from the connection, later ones from their first byte.
    /// Beyond it the connection is closed. 0: no limit.
    pub header_read_timeout_ms: u64,
    /// How long a kept-alive connection may wait for its next request, and a request body
    /// for its next bytes, in milliseconds: then the connection is closed (a body that
    /// stopped is answered 408 first). 0: no limit.
    pub idle_timeout_ms: u64,
    /// Connections one client address may have open at once (WebSockets included); one
    /// more is answered 429 and closed. Behind a proxy every client has the proxy's
    /// address: raise it there, or 0 for no limit.
    pub max_connections_per_client: usize,
    /// The plugins to load, in this order (`[[extensions.plugin]]`).
    pub plugin: Vec<PluginEntry>,
}

impl Default for ExtensionsSection {
    fn default() -> Self {
        ExtensionsSection {
            listen: "127.0.0.1:8080".into(),
            library_dir: PathBuf::from("../../target/debug"),
            layers: Vec::new(),
            shutdown_grace_ms: 10_000,
            max_body_bytes: 16 * 1024 * 1024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections_per_client: 256,
            plugin: Vec::new(),
        }
    }
}

/// `[[extensions.plugin]]`: one plugin to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PluginEntry {
    /// The plugin's name: one of the seed's `PluginName` values. Required.
    pub name: PluginName,
    /// Path of the library, relative to the site directory unless absolute. Default:
    /// `<library_dir>/libdaas_plugin_<name>.so`.
    #[serde(default)]
    pub library: Option<PathBuf>,
    /// When true, a library that is missing or fails to load is skipped with a warning
    /// instead of stopping the server.
    #[serde(default)]
    pub optional: bool,
    /// When false, the entry is ignored.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Free-form settings for plugins without a config file of their own (testbackend,
    /// admin, phases, instances); the plugin validates them at start.
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

fn yes() -> bool {
    true
}
