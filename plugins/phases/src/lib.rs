//! # phases: the lifecycle and its instances
//!
//! An administrator's base image becomes a user's environment (CloneTemplate), the
//! environment a deployment (CreateSnapshot), the deployment an app (RunApp); an app
//! starts instances that the browser views. This plugin owns that lifecycle and
//! everything that runs: it drives machine backends (the container plugin, the vm
//! plugin) through the machine contract ([`daas_common::protocols::MachineRequest`])
//! and never names an engine.
//!
//! - [`phase`]: phases, sub-phases, transitions and what each allows;
//! - [`lifecycle`]: the work of each task on the machine contract, and restart recovery;
//! - [`tasks`]: the task rows, one at a time per object, idempotency, cancel;
//! - [`instances`]: instance and connection rows, viewer tokens, machines made and removed;
//! - [`limits`]: the `limits` backend and layer;
//! - [`reconcile`]: instances whose machine is gone;
//! - [`events`]: live events on the host bus and `WS /api/v1/phases/events`;
//! - [`api`], the routes under `/api/v1/phases`.
//!
//! It provides the `phases` backend ([`daas_common::protocols::Phases`]: the proxy's
//! apps page starts and stops instances through it), the `limits` backend and layer.
//! Settings (its `[[extensions.plugin]]` entry): [`Settings`].

pub mod api;
pub mod events;
pub mod instances;
pub mod lifecycle;
pub mod limits;
pub mod phase;
pub mod reconcile;
pub mod tasks;

use std::{sync::Arc, time::Duration};

use daas_common::{
    model::{DaasObject, TaskState},
    protocols::{AppStarted, DbClient, Limits, Phases, PhasesRequest, PhasesResponse},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    export_plugin,
    identity::Identity,
    names::{LayerName, PluginName},
    poem_openapi::OpenApiService,
    sdk::{Failure, PluginBuilder, PluginContext},
};
use serde::Deserialize;

use crate::{events::Events, instances::Reservations, tasks::Tasks};

/// The settings of the plugin's `[[extensions.plugin]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The time limit of one ConfigAuto command, in milliseconds, unless the command
    /// names its own (`limit_ms`). Default 600000 (10 minutes).
    pub step_limit_ms: u64,
    /// How long the browser's app start (`POST /app/{id}`) waits for the desktop before
    /// it answers, in milliseconds. Default 120000.
    pub start_wait_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { step_limit_ms: 600_000, start_wait_ms: 120_000 }
    }
}

/// The plugin's state, shared by routes, backends and tasks. Cheap to clone.
#[derive(Clone)]
pub struct State {
    pub db: DbClient,
    pub tasks: Tasks,
    pub events: Events,
    pub reservations: Reservations,
    pub settings: Arc<Settings>,
}

impl State {
    pub fn new(db: DbClient, settings: Settings) -> State {
        let events = Events::on_host_bus();
        State {
            tasks: Tasks::new(db.clone(), events.clone()),
            db,
            events,
            reservations: Reservations::default(),
            settings: Arc::new(settings),
        }
    }

    /// Serve the `phases` backend.
    pub async fn serve(&self, request: PhasesRequest) -> Result<PhasesResponse, BackendError> {
        let failed = BackendError::from;
        match request {
            PhasesRequest::AppStart { object_id, caller } => {
                let caller = Identity::from(&caller);
                let (task, _) = lifecycle::ask_start(self, &caller, &object_id, None).await.map_err(failed)?;
                let task = self.tasks.wait(&task.id, Duration::from_millis(self.settings.start_wait_ms)).await.map_err(failed)?;
                let instance_id = task.id_instance.clone().unwrap_or_default();
                match task.state {
                    TaskState::Succeeded => {
                        let instance = instances::owned(&self.db, &caller, &instance_id).await.map_err(failed)?;
                        let viewer_url = instances::viewer_of(&self.db, &instance).await.map_err(failed)?.unwrap_or_default();
                        Ok(PhasesResponse::AppStarted(AppStarted { instance_id, viewer_url }))
                    }
                    TaskState::Failed | TaskState::Cancelled => Err(BackendError::new(
                        BackendErrorKind::NotAvailable,
                        format!("the app did not start: {}", task.error.unwrap_or_default()),
                    )),
                    _ => Err(BackendError::new(
                        BackendErrorKind::Unavailable,
                        format!("the app is still starting (task {}); open the apps page again in a moment", task.id),
                    )),
                }
            }
            PhasesRequest::InstanceStop { instance_id, caller } => {
                stop_instance(self, &Identity::from(&caller), &instance_id).await.map_err(failed)?;
                Ok(PhasesResponse::Done)
            }
        }
    }
}

/// Stop a caller's instance; not the in-progress instance of an object being made.
pub async fn stop_instance(state: &State, caller: &Identity, id: &str) -> Result<(), Failure> {
    let instance = instances::owned(&state.db, caller, id).await?;
    if let Some(object) = state.db.get::<DaasObject>(&instance.id_app).await? {
        let phase = phase::Phase::of(&object);
        if phase != Some(phase::Phase::App) && object.object_state != phase::state::READY {
            return Err(phase::illegal(&object, &format!("stopping its in-progress instance `{id}`")));
        }
    }
    lifecycle::remove_instance(state, &instance).await
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let state = State::new(DbClient::host(), ctx.settings::<Settings>()?);
    let (backend, limits_db, layer_db, ws, ready) = (state.clone(), state.db.clone(), state.db.clone(), state.clone(), state.clone());
    let api = OpenApiService::new(api::PhasesApi(state), "phases", env!("CARGO_PKG_VERSION")).description(
        "The lifecycle: transitions from base images to environments, deployments and apps, app starts, tasks, instances, limits.",
    );
    Ok(PluginBuilder::new()
        .api(api)
        .backend::<Phases, _, _>(move |request| {
            let state = backend.clone();
            async move { state.serve(request).await }
        })
        .backend::<Limits, _, _>(move |request| {
            let db = limits_db.clone();
            async move { limits::serve(&db, request).await }
        })
        .layer(LayerName::Limit, limits::LimitLayer { db: layer_db })
        .publishes(["phases.*"])
        .websocket("/events", "daas-events", false, move |request, socket| events::socket(ws.events.clone(), request, socket))
        // Every plugin (the db and the machine backends among them) has started: the
        // moment to recover the tasks a restart interrupted and reconcile the instances.
        .on_ready(move || async move {
            match lifecycle::recover(&ready).await {
                Ok((failed, queued)) => tracing::info!(failed, queued, "recovered the tasks of the last run"),
                Err(e) => tracing::warn!(error = %e, "the tasks of the last run could not be recovered"),
            }
            match reconcile::run(&ready).await {
                Ok(stopped) => tracing::info!(stopped = stopped.len(), "reconciled instances with their machines"),
                Err(e) => tracing::warn!(error = %e, "reconcile of the instances failed"),
            }
            Ok(())
        }))
}

export_plugin!(PluginName::Phases, start);
