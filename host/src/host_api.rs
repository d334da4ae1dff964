//! The host's own routes, defined with poem-openapi like the plugins' so that they are
//! documented in the same merged document: `/healthz`, `/readyz`, `/api/v1/plugins`.

use std::sync::{atomic::Ordering, Arc, OnceLock};

use daas_plugin_api::sdk::Failure;
use poem_openapi::{payload::Json, Object, OpenApi};

use crate::state::AppState;

/// The host's API. Unbound (no state) it only serves to produce its document.
pub struct HostApi(OnceLock<Arc<AppState>>);

impl HostApi {
    /// The API serving `state`.
    pub fn bound(state: Arc<AppState>) -> Self {
        HostApi(OnceLock::from(state))
    }

    /// The API without state, for its document.
    pub fn unbound() -> Self {
        HostApi(OnceLock::new())
    }
}

/// The host's poem-openapi service.
pub fn service(api: HostApi) -> poem_openapi::OpenApiService<HostApi, ()> {
    poem_openapi::OpenApiService::new(api, "daas host", env!("CARGO_PKG_VERSION"))
}

/// Liveness or readiness.
#[derive(Object)]
#[oai(rename = "HostStatus")]
struct Status {
    /// `ok` (liveness) or `ready` (readiness).
    status: String,
}

/// A loaded plugin and what it contributes.
#[derive(Object)]
pub struct PluginInfo {
    /// Its `PluginName`.
    pub name: String,
    /// Its crate version.
    pub version: String,
    /// The library file it was loaded from.
    pub library: String,
    /// Its documented routes (`GET /api/v1/testbackend/hello`), browser routes and
    /// WebSocket routes.
    pub routes: Vec<String>,
    /// The backends it provides.
    pub backends: Vec<String>,
    /// The layers it provides.
    pub layers: Vec<String>,
    /// The event topics it subscribes to.
    pub subscriptions: Vec<String>,
    /// The event topics it may publish on.
    pub publishes: Vec<String>,
}

/// The loaded plugins.
#[derive(Object)]
struct PluginList {
    /// The host's version.
    host_version: String,
    /// The plugin ABI version (plugin-api) of the host.
    abi_version: String,
    /// Plugins in start order.
    plugins: Vec<PluginInfo>,
}

#[OpenApi(tag = "HostTags::Host")]
impl HostApi {
    /// Liveness
    ///
    /// The process answers: `{"status": "ok"}`. Needs no identity.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<Status> {
        Json(Status { status: "ok".into() })
    }

    /// Readiness
    ///
    /// 200 `{"status": "ready"}` once every plugin started; 503 (code `not_ready`)
    /// while the server starts or shuts down. Needs no identity.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self) -> Result<Json<Status>, Failure> {
        if self.0.get().is_some_and(|s| s.ready.load(Ordering::SeqCst)) {
            Ok(Json(Status { status: "ready".into() }))
        } else {
            Err(Failure::unavailable("the server is starting or shutting down").with_code("not_ready"))
        }
    }

    /// The loaded plugins
    ///
    /// The host's and the ABI's version, and every loaded plugin in start order with its
    /// version, library, routes, backends, layers and event topics.
    #[oai(path = "/api/v1/plugins", method = "get", operation_id = "plugins")]
    async fn plugins(&self) -> Json<PluginList> {
        Json(PluginList {
            host_version: env!("CARGO_PKG_VERSION").into(),
            abi_version: daas_plugin_api::ABI_VERSION.into(),
            plugins: self.0.get().map(|s| s.plugin_infos()).unwrap_or_default(),
        })
    }
}

#[derive(poem_openapi::Tags)]
enum HostTags {
    /// The plugin host itself.
    Host,
}

/// The operations of the host that need no identity.
pub const PUBLIC: &[&str] = &["healthz", "readyz"];
