//! The vm backend's wire protocol (`BackendName::Vm`): the machine contract (the phases
//! plugin drives VMs through [`super::MachineClient`]) and the backend's facts for
//! administrators. The vm plugin provides it.

use daas_plugin_api::{sdk::BackendProtocol, BackendName};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::machine::{MachineRequest, MachineResponse};

/// The vm plugin's backend.
pub enum Vm {}

impl BackendProtocol for Vm {
    const NAME: BackendName = BackendName::Vm;
    type Request = VmRequest;
    type Response = VmResponse;
}

/// Requests to [`Vm`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum VmRequest {
    /// The backend's facts.
    Info,
    /// A request of the machine contract (`super::MachineClient` sends it).
    Machine {
        /// The request.
        request: MachineRequest,
    },
}

/// Answers of [`Vm`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum VmResponse {
    /// The backend's facts.
    Info(VmInfo),
    /// The answer to a request of the machine contract.
    Machine {
        /// The answer.
        answer: MachineResponse,
    },
}

/// What runs the VMs, as an administrator sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct VmInfo {
    /// `qemu` or `proxmox`.
    pub backend: String,
    /// The engine's version (QEMU's, or Proxmox VE's).
    pub version: String,
    /// `kvm` or `tcg` (QEMU); empty for Proxmox, or before the first VM's start told.
    pub accel: String,
    /// The templates an administrator's base image may name.
    pub templates: Vec<String>,
    /// Artifacts the lifecycle made (environments' clones, deployments' snapshots).
    pub artifacts: Vec<String>,
    /// VMs that exist now, running or not.
    pub instances: Vec<VmInstance>,
}

/// One VM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct VmInstance {
    /// Its name (`daas-<instance id>`).
    pub name: String,
    /// `running`, `paused`, `exited`...
    pub state: String,
    /// The artifact it was made from.
    pub artifact: String,
    /// Its memory in MiB.
    pub memory_mb: u64,
    /// Resident memory of its process in bytes (QEMU); null when unknown.
    pub rss_bytes: Option<u64>,
}
