//! The machine contract on VMs: an instance is a VM (a linked clone of its artifact's
//! disk), an artifact a template or a snapshot (live: with the memory, so that
//! instances resume instead of booting); exec and files go through the guest agent.

use std::time::Duration;

use daas_common::protocols::{file_content, MachineRequest, MachineResponse};

use crate::{error::VmError, qemu::Qemu};

/// Serve one request of the contract.
pub async fn serve(qemu: &Qemu, request: MachineRequest) -> Result<MachineResponse, VmError> {
    use MachineRequest as R;
    use MachineResponse as A;
    Ok(match request {
        R::Instantiate { spec, command } => {
            let (id, vnc) = qemu.instantiate(&spec, command.as_deref()).await?;
            A::Instance { id, vnc }
        }
        R::Exec { instance, command, limit_ms } => {
            let (exit_code, output) = qemu.exec(&instance, &command, Duration::from_millis(limit_ms.max(1))).await?;
            A::Exec { exit_code, output }
        }
        R::PutFile { instance, path, content, mode } => {
            let content = file_content(&content)
                .ok_or_else(|| VmError::BadRequest(format!("the content of `{path}` is not base64 (standard alphabet, padded)")))?;
            qemu.put_file(&instance, &path, &content, mode).await?;
            A::Done
        }
        R::Capture { instance, artifact, live } => A::Artifact { id: qemu.capture(&instance, &artifact, live).await? },
        R::Stop { instance } => {
            qemu.stop(&instance).await?;
            A::Done
        }
        R::Remove { instance } => {
            qemu.remove(&instance).await?;
            A::Done
        }
        R::RemoveArtifact { artifact } => {
            qemu.remove_artifact(&artifact).await?;
            A::Done
        }
        R::Status { instance } => A::Status { state: qemu.status(&instance)? },
        // QEMU's own VNC server shows the VM's screen: the port inside does not matter.
        R::Vnc { instance, port: _ } => A::Vnc(qemu.vnc(&instance)?),
    })
}
