//! # container: the Docker Engine backend
//!
//! The Docker Engine API through bollard (podman's compatible socket on these
//! machines; see docs/container.md). It offers:
//!
//! - the `container` backend ([`daas_common::protocols::Container`]): daemon info,
//!   images (list, inspect, build, delete), containers (create, start, stop, remove,
//!   commit, exec, status, VNC endpoint, list with stats, logs, IP), and the machine
//!   contract ([`daas_common::protocols::MachineRequest`]) that the phases plugin drives:
//!   an instance is a container, an artifact an image;
//! - `/api/v1/container`: the engine's facts and images for administrators;
//! - service containers (`[service_containers]`) started with the plugin and stopped
//!   with it, and a reconcile pass once every plugin has started (its ready hook).
//!
//! Modules: [`engine`] the connection and its errors, [`images`], [`containers`],
//! [`services`], [`machine`] (the contract), [`reconcile`] (orphaned containers),
//! [`api`].

pub mod api;
pub mod containers;
pub mod engine;
pub mod images;
pub mod machine;
pub mod reconcile;
pub mod services;

use std::{sync::Arc, time::Duration};

use daas_common::{
    config::ContainerFile,
    protocols::{Container, ContainerRequest as R, ContainerResponse, DbClient},
};
use daas_plugin_api::{
    abi::BackendError,
    export_plugin,
    names::PluginName,
    poem_openapi::OpenApiService,
    sdk::{PluginBuilder, PluginContext},
};

use crate::engine::Engine;

/// The plugin's state, shared by routes and backend.
#[derive(Clone)]
pub struct State {
    pub engine: Engine,
    /// The instances' rows, for reconcile.
    pub db: DbClient,
    /// How long an instance's start waits for its desktop's RFB greeting.
    pub vnc_ready: Duration,
    /// The `daas.site` label.
    pub site_label: String,
    pub file: Arc<ContainerFile>,
}

impl State {
    /// A state for a config file; the engine connection is lazy.
    pub fn new(file: ContainerFile, db: DbClient) -> Result<State, String> {
        let cfg = &file.container_request;
        let engine = Engine::connect(cfg).map_err(|e| e.to_string())?;
        let vnc_ready = Duration::from_millis(if cfg.vnc_ready_ms == 0 { 20_000 } else { cfg.vnc_ready_ms });
        let site_label = if cfg.site_label.is_empty() { "daas".to_string() } else { cfg.site_label.clone() };
        Ok(State { engine, db, vnc_ready, site_label, file: Arc::new(file) })
    }

    fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serve one backend request.
    pub async fn serve(&self, request: R) -> Result<ContainerResponse, BackendError> {
        use ContainerResponse as A;
        let e = self.engine();
        Ok(match request {
            R::Info => A::Info(e.info().await?),
            R::ImageList => A::Images { images: images::list(e).await? },
            R::ImageInspect { name } => A::Image(images::inspect(e, &name).await?),
            R::ImageBuild { dockerfile, tag } => {
                let (id, log) = images::build(e, &dockerfile, &tag).await?;
                A::Built { id, log }
            }
            R::ImageDelete { name } => {
                images::delete(e, &name).await?;
                A::Done
            }
            R::Create { spec } => A::Created { id: containers::create(e, &spec).await? },
            R::Start { id } => {
                containers::start(e, &id).await?;
                A::Done
            }
            R::Stop { id, force } => {
                containers::stop(e, &id, force).await?;
                A::Done
            }
            R::Remove { id } => {
                containers::remove(e, &id).await?;
                A::Done
            }
            R::Commit { id, image } => A::Committed { id: containers::commit(e, &id, &image).await? },
            R::Exec { id, cmd } => {
                let (exit_code, output) = containers::exec(e, &id, &cmd).await?;
                A::Exec { exit_code, output }
            }
            R::Status { id } => A::Status { state: containers::status(e, &id).await? },
            R::VncEndpoint { id, port } => A::Endpoint { host: "127.0.0.1".into(), port: containers::published_port(e, &id, port).await? },
            R::List { all, stats } => A::Containers { containers: containers::list(e, all, stats, None).await? },
            R::Logs { id } => A::Text { text: containers::logs(e, &id).await? },
            R::Ip { id } => A::Text { text: containers::ip(e, &id).await? },
            R::Machine { request } => A::Machine { answer: machine::serve(e, self.vnc_ready, &self.site_label, request).await? },
        })
    }

    /// Start the service containers, then wait `wait_services_ms` (seed `connect`).
    /// An engine that is down is reported, not fatal: the plugin's routes answer 503
    /// naming the socket until it is up.
    async fn start_services(&self) {
        let services = &self.file.service_containers.service_containers;
        for svc in services {
            if let Err(e) = services::start(self.engine(), svc, &self.site_label).await {
                tracing::error!(name = %svc.name, error = %e, "service container did not start");
            }
        }
        let wait = self.file.container_request.wait_services_ms;
        if !services.is_empty() && wait > 0 {
            tracing::info!(ms = wait, "waiting for the started service containers");
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    async fn stop_services(&self) {
        for svc in &self.file.service_containers.service_containers {
            if let Err(e) = services::stop(self.engine(), svc).await {
                tracing::error!(name = %svc.name, error = %e, "service container did not stop");
            }
        }
    }
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let state = State::new(ctx.config::<ContainerFile>()?, DbClient::host())?;
    match state.engine().info().await {
        Ok(i) => tracing::info!(host = %i.host, product = %i.product, version = %i.version, "container engine connected"),
        Err(e) => tracing::warn!(error = %e, "container engine not reachable; container routes answer 503 until it is"),
    }
    state.start_services().await;
    let (backend, ready, stop) = (state.clone(), state.clone(), state.clone());
    let api = OpenApiService::new(api::ContainerApi(state), "container", env!("CARGO_PKG_VERSION"))
        .description("The Docker Engine API's facts and images (administrators); containers are started through the phases plugin.");
    Ok(PluginBuilder::new()
        .api(api)
        .backend::<Container, _, _>(move |request| {
            let state = backend.clone();
            async move { state.serve(request).await }
        })
        // Every plugin (the db among them) has started: the moment to reconcile the
        // database with the engine. A failure is reported, not fatal: the engine may be
        // down, and the routes say so until it is up.
        .on_ready(move || async move {
            let remove = ready.file.container_request.remove_orphans;
            match reconcile::run(&ready.engine, &ready.db, &ready.site_label, remove).await {
                Ok(r) => tracing::info!(
                    orphans = r.orphans.len(),
                    removed = r.removed.len(),
                    "reconciled the engine's containers with the instances"
                ),
                Err(e) => tracing::warn!(error = %e, "reconcile with the engine failed"),
            }
            Ok(())
        })
        .on_stop(move || async move { stop.stop_services().await }))
}

export_plugin!(PluginName::Container, start);
