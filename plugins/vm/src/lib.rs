//! # vm: virtual machines behind the machine contract
//!
//! The phases plugin drives VMs as it drives containers, through the machine contract
//! ([`daas_common::protocols::MachineRequest`]) on the `vm` backend
//! ([`daas_common::protocols::Vm`]). The QEMU backend ([`qemu`]) runs them on this
//! server: base images are qcow2 templates, an environment a linked clone, a deployment
//! a live snapshot that its apps resume from instead of booting; commands and files go
//! through the QEMU guest agent ([`qapi`]). See docs/vm.md.
//!
//! Proxmox VE is the other backend ([`proxmox`]): the same contract over its REST API,
//! its consoles bridged to loopback for the proxy.
//!
//! Modules: [`qemu`] and [`proxmox`] the backends, [`qapi`] QMP and the guest agent,
//! [`machine`] the contract on either, [`reconcile`] VMs of no instance, [`api`]
//! `/api/v1/vm`, [`error`].

pub mod api;
pub mod error;
pub mod machine;
pub mod proxmox;
pub mod qapi;
pub mod qemu;
pub mod reconcile;

use std::{sync::Arc, time::Duration};

use daas_common::{
    config::VmFile,
    protocols::{DbClient, Vm, VmInfo, VmRequest, VmResponse},
};
use daas_plugin_api::{
    abi::BackendError,
    export_plugin,
    names::PluginName,
    poem_openapi::OpenApiService,
    sdk::{PluginBuilder, PluginContext},
};

use crate::{error::VmError, machine::Backend, proxmox::Proxmox, qemu::Qemu};

/// The plugin's state, shared by routes and backend.
#[derive(Clone)]
pub struct State {
    /// The backend that runs the VMs.
    pub backend: Arc<Backend>,
}

impl State {
    /// A state for a config file; relative paths are the site directory's. `db` gives
    /// the Proxmox backend's `suggest_vmid` its hint.
    pub fn new(file: &VmFile, site_dir: &std::path::Path, db: Option<DbClient>) -> Result<State, VmError> {
        let cfg = &file.vm_api;
        let backend = match cfg.backend.as_str() {
            "qemu" | "" => Backend::Qemu(Qemu::new(cfg, site_dir)?),
            "proxmox" => {
                let boot = Duration::from_millis(cfg.boot_timeout_ms.max(1000));
                Backend::Proxmox(Proxmox::new(&file.vm_rest, &file.vm_http, boot, db)?)
            }
            other => return Err(VmError::BadRequest(format!("[vm_api] backend `{other}` is none of qemu, proxmox"))),
        };
        Ok(State { backend: Arc::new(backend) })
    }

    /// Serve one backend request.
    pub async fn serve(&self, request: VmRequest) -> Result<VmResponse, BackendError> {
        Ok(match request {
            VmRequest::Info => VmResponse::Info(self.info().await?),
            VmRequest::Machine { request } => VmResponse::Machine { answer: machine::serve(&self.backend, request).await? },
        })
    }

    /// The backend's facts.
    pub async fn info(&self) -> Result<VmInfo, VmError> {
        Ok(match &*self.backend {
            Backend::Qemu(q) => VmInfo {
                backend: "qemu".into(),
                version: q.version().await?,
                accel: q.accel_known().unwrap_or_default().into(),
                templates: q.templates(),
                artifacts: q.artifacts(),
                instances: q.instances(),
            },
            Backend::Proxmox(p) => {
                let (templates, artifacts) = p.templates_and_artifacts().await?;
                VmInfo {
                    backend: "proxmox".into(),
                    version: p.version().await?,
                    accel: String::new(),
                    templates,
                    artifacts,
                    instances: p.instances().await?,
                }
            }
        })
    }

    /// Which engine, and whether it answers (logged at start).
    async fn engine(&self) -> Result<String, VmError> {
        match &*self.backend {
            Backend::Qemu(q) => Ok(format!("QEMU {}", q.version().await?)),
            Backend::Proxmox(p) => Ok(format!("Proxmox VE {}", p.version().await?)),
        }
    }
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let file = ctx.config::<VmFile>()?;
    let remove_orphans = file.vm_api.remove_orphans;
    let state = State::new(&file, &ctx.site_dir, Some(DbClient::host())).map_err(|e| e.to_string())?;
    match state.engine().await {
        Ok(engine) => tracing::info!(%engine, "VM engine found"),
        Err(e) => tracing::warn!(error = %e, "the VM engine does not answer; VM starts answer 503 until it does"),
    }
    let (backend, ready) = (state.clone(), state.clone());
    let api = OpenApiService::new(api::VmApi(state), "vm", env!("CARGO_PKG_VERSION"))
        .description("The VM backend's facts (administrators); VMs are started through the phases plugin.");
    Ok(PluginBuilder::new()
        .api(api)
        .backend::<Vm, _, _>(move |request| {
            let state = backend.clone();
            async move { state.serve(request).await }
        })
        // Every plugin (the db among them) has started: reconcile the VMs with the
        // instances, and probe QEMU's accelerator now rather than in the first user's
        // start, beside the server's start (a probe where KVM hangs takes seconds).
        .on_ready(move || async move {
            match reconcile::run(&ready.backend, &DbClient::host(), remove_orphans).await {
                Ok(r) => tracing::info!(orphans = r.orphans.len(), removed = r.removed.len(), "reconciled the VMs with the instances"),
                Err(e) => tracing::warn!(error = %e, "reconcile of the VMs failed"),
            }
            if let Backend::Qemu(_) = &*ready.backend {
                tokio::spawn(async move {
                    if let Backend::Qemu(q) = &*ready.backend {
                        let accel = q.accel().await;
                        tracing::info!(accel, "VMs run under {accel}");
                    }
                });
            }
            Ok(())
        }))
}

export_plugin!(PluginName::Vm, start);
