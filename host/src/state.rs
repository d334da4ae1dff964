//! What the request path shares: the started plugins, the layers, the documented
//! operations (to find the operation a request hits, and the methods a path allows).

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::Duration,
};

use abi_stable::std_types::RString;
use daas_plugin_api::{paths::match_path, permissions::Rule, LayerName};

use crate::registry::Plugin;

/// A documented operation, for matching requests to operation ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The fragment's tag (plugin name or `host`).
    pub tag: String,
    /// Upper-case method.
    pub method: String,
    /// The full path template (`/api/v1/testbackend/events/{topic}`).
    pub path: String,
    /// The pattern requests are matched against (the template, except that a poem
    /// wildcard `*rest` keeps matching several segments).
    pub pattern: String,
    /// The merged operation id.
    pub operation_id: String,
    /// Needs no authentication.
    pub public: bool,
    /// The permission rule its plugin requires (none: authentication only).
    pub rule: Option<Rule>,
}

/// Paths the host serves itself outside the document (`GET` only).
pub const UNDOCUMENTED_HOST_PATHS: &[&str] = &["/openapi.json", "/docs"];

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
    /// The id of each operation's permission rule (empty: none), as layers get it.
    rule_ids: Vec<RString>,
    /// Every method some route answers (`HEAD` with `GET`).
    methods: Vec<String>,
    /// The merged document.
    pub openapi: String,
    /// Largest accepted request body and WebSocket message.
    pub max_body_bytes: usize,
    /// How long a request body may pause (`[extensions] idle_timeout_ms`); `None`: as long
    /// as it likes.
    pub body_pause: Option<Duration>,
    /// Flips to true when shutdown begins; open WebSockets close themselves.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

/// The parts of an [`AppState`] that are not derived from the others.
pub struct Parts {
    pub plugins: Vec<Plugin>,
    pub layers: Vec<(LayerName, Plugin)>,
    pub operations: Vec<Operation>,
    pub openapi: String,
    pub max_body_bytes: usize,
    pub body_pause: Option<Duration>,
}

impl AppState {
    /// The state of a server about to listen (not ready yet).
    pub fn new(parts: Parts) -> Arc<AppState> {
        let rule_ids = parts.operations.iter().map(|o| o.rule.as_ref().map(|r| r.to_string()).unwrap_or_default().into()).collect();
        let mut methods: Vec<String> = parts.operations.iter().map(|o| o.method.clone()).collect();
        // The host's own documents are served to GET (and HEAD) outside the document.
        methods.extend(["GET".into(), "HEAD".into()]);
        methods.sort();
        methods.dedup();
        Arc::new(AppState {
            ready: AtomicBool::new(false),
            plugins: parts.plugins,
            layers: parts.layers,
            operations: parts.operations,
            rule_ids,
            methods,
            openapi: parts.openapi,
            max_body_bytes: parts.max_body_bytes,
            body_pause: parts.body_pause,
            shutdown: tokio::sync::watch::channel(false).0,
        })
    }

    /// The documented operation a request hits, with its rule's id (empty: none). HEAD is
    /// answered by GET handlers, so it is matched as GET.
    pub fn operation(&self, method: &str, path: &str) -> Option<(&Operation, &RString)> {
        let method = if method == "HEAD" { "GET" } else { method };
        let i = self.operations.iter().position(|o| o.method == method && match_path(&o.pattern, path).is_some())?;
        Some((&self.operations[i], &self.rule_ids[i]))
    }

    /// Whether some route answers this method.
    pub fn answers_method(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    /// The methods the routes of a path answer, sorted (`HEAD` with `GET`); empty for a
    /// path no route has.
    pub fn allowed_methods(&self, path: &str) -> Vec<&str> {
        let mut allowed: Vec<&str> =
            self.operations.iter().filter(|o| match_path(&o.pattern, path).is_some()).map(|o| o.method.as_str()).collect();
        if UNDOCUMENTED_HOST_PATHS.contains(&path) {
            allowed.push("GET");
        }
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        allowed.sort_unstable();
        allowed.dedup();
        allowed
    }
}
