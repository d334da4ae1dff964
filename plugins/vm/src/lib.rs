//! # vm: virtual machines behind the machine contract
//!
//! The phases plugin drives VMs as it drives containers, through the machine contract
//! ([`daas_common::protocols::MachineRequest`]) on the `vm` backend
//! ([`daas_common::protocols::Vm`]). The QEMU backend ([`qemu`]) runs them on this
//! server: base images are qcow2 templates, an environment a linked clone, a deployment
//! a live snapshot that its apps resume from instead of booting; commands and files go
//! through the QEMU guest agent ([`qapi`]). See docs/vm.md.
//!
//! Modules: [`qemu`] the backend, [`qapi`] QMP and the guest agent, [`machine`] the
//! contract, [`api`] `/api/v1/vm`, [`error`].

pub mod api;
pub mod error;
pub mod machine;
pub mod qapi;
pub mod qemu;

use std::sync::Arc;

use daas_common::{
    config::VmFile,
    protocols::{Vm, VmInfo, VmRequest, VmResponse},
};
use daas_plugin_api::{
    abi::BackendError,
    export_plugin,
    names::PluginName,
    poem_openapi::OpenApiService,
    sdk::{PluginBuilder, PluginContext},
};

use crate::{error::VmError, qemu::Qemu};

/// The plugin's state, shared by routes and backend.
#[derive(Clone)]
pub struct State {
    /// The QEMU backend.
    pub qemu: Arc<Qemu>,
}

impl State {
    /// A state for a config file; relative paths are the site directory's.
    pub fn new(file: &VmFile, site_dir: &std::path::Path) -> Result<State, VmError> {
        let cfg = &file.vm_api;
        match cfg.backend.as_str() {
            "qemu" | "" => {}
            "proxmox" => return Err(VmError::BadRequest("[vm_api] backend = \"proxmox\" is not available yet; use \"qemu\"".into())),
            other => return Err(VmError::BadRequest(format!("[vm_api] backend `{other}` is none of qemu, proxmox"))),
        }
        Ok(State { qemu: Arc::new(Qemu::new(cfg, site_dir)?) })
    }

    /// Serve one backend request.
    pub async fn serve(&self, request: VmRequest) -> Result<VmResponse, BackendError> {
        Ok(match request {
            VmRequest::Info => VmResponse::Info(self.info().await?),
            VmRequest::Machine { request } => VmResponse::Machine { answer: machine::serve(&self.qemu, request).await? },
        })
    }

    /// The backend's facts.
    pub async fn info(&self) -> Result<VmInfo, VmError> {
        let q = &self.qemu;
        Ok(VmInfo {
            backend: "qemu".into(),
            version: q.version().await?,
            accel: q.accel_known().unwrap_or_default().into(),
            templates: q.templates(),
            artifacts: q.artifacts(),
            instances: q.instances(),
        })
    }
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let state = State::new(&ctx.config::<VmFile>()?, &ctx.site_dir).map_err(|e| e.to_string())?;
    match state.qemu.version().await {
        Ok(v) => tracing::info!(version = %v, templates = state.qemu.templates().len(), "QEMU found"),
        Err(e) => tracing::warn!(error = %e, "QEMU cannot be run; VM starts answer 503 until it can"),
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
        // Probe the accelerator now rather than in the first user's start, beside the
        // server's start (a probe where KVM hangs takes seconds).
        .on_ready(move || async move {
            tokio::spawn(async move {
                let accel = ready.qemu.accel().await;
                tracing::info!(accel, "VMs run under {accel}");
            });
            Ok(())
        }))
}

export_plugin!(PluginName::Vm, start);
