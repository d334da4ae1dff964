//! The machine contract on VMs, on either backend: an instance is a VM, an artifact a
//! template or a snapshot (live: with the memory, so that instances resume instead of
//! booting); exec and files go through the guest agent.

use std::time::Duration;

use daas_common::protocols::{file_content, Endpoint, MachineRequest, MachineResponse, MachineSpec};

use crate::{error::VmError, proxmox::Proxmox, qemu::Qemu};

/// The backend `[vm_api] backend` chose.
pub enum Backend {
    /// QEMU on this server.
    Qemu(Qemu),
    /// Proxmox VE over its REST API.
    Proxmox(Proxmox),
}

impl Backend {
    async fn instantiate(&self, spec: &MachineSpec, command: Option<&[String]>) -> Result<(String, Option<Endpoint>), VmError> {
        match self {
            Backend::Qemu(q) => q.instantiate(spec, command).await,
            Backend::Proxmox(p) => p.instantiate(spec, command).await,
        }
    }

    async fn exec(&self, vm: &str, command: &[String], limit: Duration) -> Result<(i64, String), VmError> {
        match self {
            Backend::Qemu(q) => q.exec(vm, command, limit).await,
            Backend::Proxmox(p) => p.exec(vm, command, limit).await,
        }
    }

    async fn put_file(&self, vm: &str, path: &str, content: &[u8], mode: u32) -> Result<(), VmError> {
        match self {
            Backend::Qemu(q) => q.put_file(vm, path, content, mode).await,
            Backend::Proxmox(p) => p.put_file(vm, path, content, mode).await,
        }
    }

    async fn capture(&self, vm: &str, artifact: &str, live: bool) -> Result<String, VmError> {
        match self {
            Backend::Qemu(q) => q.capture(vm, artifact, live).await,
            Backend::Proxmox(p) => p.capture(vm, artifact, live).await,
        }
    }

    async fn stop(&self, vm: &str) -> Result<(), VmError> {
        match self {
            Backend::Qemu(q) => q.stop(vm).await,
            Backend::Proxmox(p) => p.stop(vm).await,
        }
    }

    async fn remove(&self, vm: &str) -> Result<(), VmError> {
        match self {
            Backend::Qemu(q) => q.remove(vm).await,
            Backend::Proxmox(p) => p.remove(vm).await,
        }
    }

    async fn remove_artifact(&self, artifact: &str) -> Result<(), VmError> {
        match self {
            Backend::Qemu(q) => q.remove_artifact(artifact).await,
            Backend::Proxmox(p) => p.remove_artifact(artifact).await,
        }
    }

    async fn status(&self, vm: &str) -> Result<Option<String>, VmError> {
        match self {
            Backend::Qemu(q) => q.status(vm),
            Backend::Proxmox(p) => p.status(vm).await,
        }
    }

    async fn vnc(&self, vm: &str) -> Result<Endpoint, VmError> {
        match self {
            Backend::Qemu(q) => q.vnc(vm),
            Backend::Proxmox(p) => p.vnc(vm).await,
        }
    }
}

/// Serve one request of the contract.
pub async fn serve(backend: &Backend, request: MachineRequest) -> Result<MachineResponse, VmError> {
    use MachineRequest as R;
    use MachineResponse as A;
    Ok(match request {
        R::Instantiate { spec, command } => {
            let (id, vnc) = backend.instantiate(&spec, command.as_deref()).await?;
            A::Instance { id, vnc }
        }
        R::Exec { instance, command, limit_ms } => {
            let (exit_code, output) = backend.exec(&instance, &command, Duration::from_millis(limit_ms.max(1))).await?;
            A::Exec { exit_code, output }
        }
        R::PutFile { instance, path, content, mode } => {
            let content = file_content(&content)
                .ok_or_else(|| VmError::BadRequest(format!("the content of `{path}` is not base64 (standard alphabet, padded)")))?;
            backend.put_file(&instance, &path, &content, mode).await?;
            A::Done
        }
        R::Capture { instance, artifact, live } => A::Artifact { id: backend.capture(&instance, &artifact, live).await? },
        R::Stop { instance } => {
            backend.stop(&instance).await?;
            A::Done
        }
        R::Remove { instance } => {
            backend.remove(&instance).await?;
            A::Done
        }
        R::RemoveArtifact { artifact } => {
            backend.remove_artifact(&artifact).await?;
            A::Done
        }
        R::Status { instance } => A::Status { state: backend.status(&instance).await? },
        // The VM's own console shows its screen: the port inside does not matter.
        R::Vnc { instance, port: _ } => A::Vnc(backend.vnc(&instance).await?),
    })
}
