//! # proxy: the remote desktop in the browser
//!
//! The viewer page (`GET /instance/{id}`) and its WebSocket on the same URL (seed 000
//! §3.2.1). Two paths lead from the WebSocket to the desktop:
//!
//! - [`guac`]: guacamole-common-js ↔ the proxy ↔ guacd (TCP) ↔ VNC or RDP. The proxy
//!   does guacd's handshake with the connection's details, answers the JS tunnel's
//!   pings and relays whole instructions.
//! - [`vnc`]: noVNC ↔ the proxy ↔ the VNC port, a websockify-compatible binary relay.
//!
//! The object's `viewer_contype` (or the site's `[viewer] default_path`) picks the path
//! ([`access::ViewerPath`]). Only this plugin reads a connection's host, port and
//! password ([`access`]); pages, URLs and responses never carry them. Who may open a
//! viewer: the instance's owner (the session), or whoever holds its viewer link
//! (`?token=`), which the auth layer turns into an attribute scoped to that instance.
//! [`viewer`] renders the pages and serves the browser assets `scripts/webroot` builds.
//! [`apps`] is the user's side of the original's browser routes: the apps page, starting
//! an app to its viewer and stopping an instance, through the phases backend.
//! [`routes`] declares and documents the browser routes and serves them; [`web`] is
//! what they share (query strings, HTML text, JSON errors).

pub mod access;
pub mod apps;
pub mod guac;
pub mod inbox;
pub mod room;
pub mod routes;
pub mod viewer;
pub mod vnc;
pub mod web;

use std::{path::PathBuf, sync::Arc, time::Duration};

use daas_common::{
    config::ProxyFile,
    protocols::{DbClient, PhasesClient},
};
use daas_plugin_api::{
    export_plugin,
    names::PluginName,
    permissions::{Operation, Rule},
    sdk::{PluginBuilder, PluginContext, WebSocket, WsRequest},
};

use crate::access::ViewerPath;

/// The plugin's settings, resolved from `proxy.toml` with its defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// The web root (templates and static assets).
    pub webroot: PathBuf,
    /// The path of `sysvnc` connections.
    pub default_path: ViewerPath,
    /// Seconds before the viewer reconnects (negative: never).
    pub reconnect_seconds: i64,
    /// Silence before a `nop`.
    pub keepalive: Duration,
    /// guacd's `host:port`.
    pub guacd: String,
    /// Connecting to guacd and its handshake.
    pub guacd_timeout: Duration,
}

impl Config {
    /// Defaults filled in, paths resolved against the site directory.
    pub fn from_file(file: &ProxyFile, site_dir: &std::path::Path) -> Result<Config, String> {
        let webroot = if file.viewer.webroot.is_empty() { "../../webroot" } else { file.viewer.webroot.as_str() };
        let default_path = match file.viewer.default_path.as_str() {
            "" | "guacamole" => ViewerPath::Guacamole,
            "novnc" => ViewerPath::NoVnc,
            other => return Err(format!("proxy.toml: [viewer] default_path = {other:?} is not `guacamole` or `novnc`")),
        };
        let or = |v: u64, d: u64| if v == 0 { d } else { v };
        Ok(Config {
            webroot: site_dir.join(webroot),
            default_path,
            reconnect_seconds: if file.viewer.reconnect_seconds == 0 { 3 } else { file.viewer.reconnect_seconds },
            keepalive: Duration::from_secs(or(file.viewer.keepalive_seconds, 5)),
            guacd: if file.guacd.address.is_empty() { "127.0.0.1:4822".into() } else { file.guacd.address.clone() },
            guacd_timeout: Duration::from_millis(or(file.guacd.timeout_ms, 15_000)),
        })
    }
}

/// What the handlers share.
pub struct State {
    /// The resolved configuration.
    pub config: Config,
    /// The data.
    pub db: DbClient,
    /// The phases backend (instances start and stop there).
    pub phases: PhasesClient,
    /// The viewer page's template.
    pub template: String,
    /// The apps page's template.
    pub apps_template: String,
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let file: ProxyFile = ctx.config()?;
    let config = Config::from_file(&file, &ctx.site_dir)?;
    let template = viewer::load(&config.webroot)?;
    tracing::info!(webroot = %config.webroot.display(), guacd = %config.guacd, "proxy starting");
    let apps_template = apps::load(&config.webroot)?;
    let state = Arc::new(State { config, db: DbClient::host(), phases: PhasesClient::host(), template, apps_template });
    let ws_state = state.clone();
    Ok(PluginBuilder::new()
        .browser(routes::routes(), routes::endpoint(state))
        .requires([
            ("apps", Rule::own("object", Operation::View)),
            ("app_start", Rule::own("instance", Operation::Start)),
            ("instance_stop", Rule::own("instance", Operation::Stop)),
        ])
        // The Guacamole JS client offers `guacamole` and Chrome fails the connection
        // unless it is echoed (seed 000 §3.2.2); noVNC offers none.
        .websocket("/instance/:id", "guacamole", true, move |request, ws| tunnel(ws_state.clone(), request, ws)))
}

/// The WebSocket of `/instance/{id}`: authorize, then the object's path.
async fn tunnel(state: Arc<State>, request: WsRequest, ws: WebSocket) {
    let id = request.params.get("id").cloned().unwrap_or_default();
    let target = match access::target(&state.db, &request.attributes, &id, true).await {
        Ok(t) => t,
        Err(denied) => {
            tracing::info!(instance = %id, "viewer tunnel refused: {denied}");
            // 4000 + the HTTP status: the upgrade already happened, so the refusal goes
            // into the close frame.
            let _ = ws.send(daas_plugin_api::abi::WsMessage::Close(4000 + denied.status(), denied.to_string().into())).await;
            return;
        }
    };
    let query = web::Query::parse(&request.query);
    match target.path(state.config.default_path) {
        ViewerPath::NoVnc => {
            let address = format!("{}:{}", target.connection.hostname, target.connection.port);
            vnc::run(ws, address, target.connection.password.clone().unwrap_or_default()).await
        }
        ViewerPath::Guacamole => {
            let settings = target.guacamole_settings(&query, &request.attributes);
            let config = guac::tunnel::TunnelConfig {
                guacd: state.config.guacd.clone(),
                timeout: state.config.guacd_timeout,
                keepalive: state.config.keepalive,
            };
            guac::tunnel::run(ws, settings, config).await
        }
    }
}

export_plugin!(PluginName::Proxy, start);
