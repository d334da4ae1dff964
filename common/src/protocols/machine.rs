//! The machine contract: what the phases plugin asks of a machine backend, the same for
//! containers (the container plugin, on the Docker API) and virtual machines (the vm
//! plugin). An *artifact* is what an instance starts from (an image; a template or a
//! snapshot); an *instance* is one machine made from it. Nothing here names an engine.
//!
//! On the wire a machine request is one operation of its backend's own protocol,
//! `{"op": "machine", "request": {...}}` (answered `{"op": "machine", "answer": {...}}`),
//! so that a backend serves the contract beside its own operations under its one name.
//! A caller uses [`MachineClient`], made for the backend of an object's type.

use std::{collections::BTreeMap, marker::PhantomData};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use daas_plugin_api::{
    abi::BackendError,
    sdk::{BackendClient, BackendProtocol},
    BackendName,
};
use serde::{Deserialize, Serialize};

/// A backend that implements the contract.
pub trait MachineKind: Send + Sync + 'static {
    /// Its backend's name.
    const NAME: BackendName;
}

/// Containers: the container plugin's backend.
pub enum ContainerMachine {}

impl MachineKind for ContainerMachine {
    const NAME: BackendName = BackendName::Container;
}

/// Virtual machines: the vm plugin's backend.
pub enum VmMachine {}

impl MachineKind for VmMachine {
    const NAME: BackendName = BackendName::Vm;
}

/// The contract on the backend of kind `K`.
pub struct Machine<K>(PhantomData<K>);

impl<K: MachineKind> BackendProtocol for Machine<K> {
    const NAME: BackendName = K::NAME;
    type Request = MachineEnvelope;
    type Response = MachineAnswer;
}

/// A machine request as its backend's protocol carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MachineEnvelope {
    /// The one operation: a request of the contract.
    Machine {
        /// The request.
        request: MachineRequest,
    },
}

/// A machine answer as its backend's protocol carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MachineAnswer {
    /// The one answer: an answer of the contract.
    Machine {
        /// The answer.
        answer: MachineResponse,
    },
}

/// What an instance is made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineSpec {
    /// The artifact it starts from.
    pub artifact: String,
    /// Its name in the engine (unique there).
    pub name: String,
    /// CPUs (0: the engine's default).
    pub cpus: i64,
    /// Memory in bytes (0: the engine's default).
    pub memory: i64,
    /// Disk size in bytes (0: the artifact's own); a VM's disk grows to it, a backend
    /// that cannot size a disk ignores it.
    #[serde(default)]
    pub disk: i64,
    /// The VNC server's port inside the instance; none: no desktop to wait for.
    pub vnc_port: Option<u16>,
    /// The VNC password the desktop takes.
    pub vnc_password: String,
    /// Labels that find the instance again (the site, the object, the task).
    pub labels: BTreeMap<String, String>,
}

/// Requests of the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MachineRequest {
    /// Make and start an instance from an artifact; with `command`, an app's instance
    /// that runs it on the desktop. With a VNC port, answered once the desktop greets.
    Instantiate {
        /// What to make.
        spec: MachineSpec,
        /// The app's target command and its arguments; none: a phase's instance.
        command: Option<Vec<String>>,
    },
    /// Run a command in a running instance and wait for it, at most `limit_ms`.
    Exec {
        /// The instance.
        instance: String,
        /// The command and its arguments.
        command: Vec<String>,
        /// The time limit in milliseconds.
        limit_ms: u64,
    },
    /// Put a file into an instance.
    PutFile {
        /// The instance.
        instance: String,
        /// Its absolute path there.
        path: String,
        /// Its content, base64 (standard alphabet, padded).
        content: String,
        /// Its permission bits (`0o755` for an installer).
        mode: u32,
    },
    /// Capture an instance as a new artifact named `artifact`, as it is: stop it first
    /// for an artifact to start from afresh (a running desktop's lock files and sockets
    /// would be captured too).
    Capture {
        /// The instance.
        instance: String,
        /// The new artifact's name.
        artifact: String,
        /// A live snapshot: the running instance's memory too, so that instances made
        /// from the artifact resume where it was instead of booting (VMs). The instance
        /// is stopped after. A backend without live snapshots (containers) stops the
        /// instance and captures its disk.
        #[serde(default)]
        live: bool,
    },
    /// Stop an instance (it can be captured or removed after).
    Stop {
        /// The instance.
        instance: String,
    },
    /// Remove an instance, stopping it first.
    Remove {
        /// The instance.
        instance: String,
    },
    /// Remove an artifact.
    RemoveArtifact {
        /// The artifact.
        artifact: String,
    },
    /// An instance's state.
    Status {
        /// The instance.
        instance: String,
    },
    /// Where a running instance's VNC server answers on this server.
    Vnc {
        /// The instance.
        instance: String,
        /// The VNC port inside the instance.
        port: u16,
    },
}

/// Answers of the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MachineResponse {
    /// A new instance.
    Instance {
        /// Its id.
        id: String,
        /// Its VNC server, when the spec named a port.
        vnc: Option<Endpoint>,
    },
    /// A command's result.
    Exec {
        /// Its exit code.
        exit_code: i64,
        /// Its output (stdout and stderr, interleaved).
        output: String,
    },
    /// A new artifact.
    Artifact {
        /// Its id.
        id: String,
    },
    /// An instance's state: `running`, `exited`, ...; none: it does not exist.
    Status {
        /// The state.
        state: Option<String>,
    },
    /// A VNC server.
    Vnc(Endpoint),
    /// Done.
    Done,
}

/// A TCP endpoint on this server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Always a loopback address.
    pub host: String,
    /// The port.
    pub port: u16,
}

/// The contract's client for one backend. Cheap to clone.
#[derive(Clone)]
pub enum MachineClient {
    /// Containers.
    Container(BackendClient<Machine<ContainerMachine>>),
    /// Virtual machines.
    Vm(BackendClient<Machine<VmMachine>>),
}

impl MachineClient {
    /// The client of the backend that runs objects of `object_type` (`container`, `vm`).
    pub fn for_object_type(object_type: &str) -> Option<MachineClient> {
        match object_type {
            "container" => Some(MachineClient::Container(BackendClient::host())),
            "vm" => Some(MachineClient::Vm(BackendClient::host())),
            _ => None,
        }
    }

    /// One request of the contract.
    pub async fn request(&self, request: MachineRequest) -> Result<MachineResponse, BackendError> {
        self.expect(request, Ok).await
    }

    /// One request whose answer `pick` takes; an answer of another kind is the SDK's
    /// wrong-answer error, naming the backend.
    async fn expect<T>(
        &self,
        request: MachineRequest,
        pick: impl FnOnce(MachineResponse) -> Result<T, MachineResponse>,
    ) -> Result<T, BackendError> {
        let envelope = MachineEnvelope::Machine { request };
        let unwrap = |MachineAnswer::Machine { answer }| pick(answer).map_err(|answer| MachineAnswer::Machine { answer });
        match self {
            MachineClient::Container(c) => c.expect(envelope, unwrap).await,
            MachineClient::Vm(c) => c.expect(envelope, unwrap).await,
        }
    }

    /// Make and start an instance (see [`MachineRequest::Instantiate`]).
    pub async fn instantiate(&self, spec: MachineSpec, command: Option<Vec<String>>) -> Result<(String, Option<Endpoint>), BackendError> {
        expect!(self, MachineRequest::Instantiate { spec, command }, MachineResponse::Instance { id, vnc } => (id, vnc))
    }

    /// Run a command within `limit_ms`; (exit code, output).
    pub async fn exec(&self, instance: &str, command: Vec<String>, limit_ms: u64) -> Result<(i64, String), BackendError> {
        let request = MachineRequest::Exec { instance: instance.into(), command, limit_ms };
        expect!(self, request, MachineResponse::Exec { exit_code, output } => (exit_code, output))
    }

    /// Put a file into an instance.
    pub async fn put_file(&self, instance: &str, path: &str, content: &[u8], mode: u32) -> Result<(), BackendError> {
        let request = MachineRequest::PutFile { instance: instance.into(), path: path.into(), content: STANDARD.encode(content), mode };
        expect!(self, request, MachineResponse::Done => ())
    }

    /// Capture an instance as the artifact `artifact` (with its memory when `live`, see
    /// [`MachineRequest::Capture`]); answers its id.
    pub async fn capture(&self, instance: &str, artifact: &str, live: bool) -> Result<String, BackendError> {
        let request = MachineRequest::Capture { instance: instance.into(), artifact: artifact.into(), live };
        expect!(self, request, MachineResponse::Artifact { id } => id)
    }

    /// Stop an instance.
    pub async fn stop(&self, instance: &str) -> Result<(), BackendError> {
        expect!(self, MachineRequest::Stop { instance: instance.into() }, MachineResponse::Done => ())
    }

    /// Remove an instance.
    pub async fn remove(&self, instance: &str) -> Result<(), BackendError> {
        expect!(self, MachineRequest::Remove { instance: instance.into() }, MachineResponse::Done => ())
    }

    /// Remove an artifact.
    pub async fn remove_artifact(&self, artifact: &str) -> Result<(), BackendError> {
        expect!(self, MachineRequest::RemoveArtifact { artifact: artifact.into() }, MachineResponse::Done => ())
    }

    /// An instance's state; none: it does not exist.
    pub async fn status(&self, instance: &str) -> Result<Option<String>, BackendError> {
        expect!(self, MachineRequest::Status { instance: instance.into() }, MachineResponse::Status { state } => state)
    }

    /// Where a running instance's VNC server (at `port` inside) answers.
    pub async fn vnc(&self, instance: &str, port: u16) -> Result<Endpoint, BackendError> {
        expect!(self, MachineRequest::Vnc { instance: instance.into(), port }, MachineResponse::Vnc(endpoint) => endpoint)
    }
}

/// The content of a [`MachineRequest::PutFile`], decoded; `None` when it is no base64.
pub fn file_content(content: &str) -> Option<Vec<u8>> {
    STANDARD.decode(content).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::{ContainerRequest, ContainerResponse};

    /// The container backend serves the contract as one of its operations: what the
    /// client sends is that operation, and that operation's answer is what it reads.
    #[test]
    fn the_envelope_is_an_operation_of_the_container_protocol() {
        let request = MachineRequest::Exec { instance: "c1".into(), command: vec!["true".into()], limit_ms: 1000 };
        let sent = serde_json::to_value(MachineEnvelope::Machine { request: request.clone() }).unwrap();
        assert_eq!(sent["op"], "machine");
        let read: ContainerRequest = serde_json::from_value(sent).unwrap();
        assert_eq!(read, ContainerRequest::Machine { request });

        let answer = MachineResponse::Vnc(Endpoint { host: "127.0.0.1".into(), port: 5901 });
        let served = serde_json::to_value(ContainerResponse::Machine { answer: answer.clone() }).unwrap();
        let MachineAnswer::Machine { answer: got } = serde_json::from_value(served).unwrap();
        assert_eq!(got, answer);
    }

    #[test]
    fn file_contents_travel_as_base64() {
        let request =
            MachineRequest::PutFile { instance: "c".into(), path: "/x".into(), content: STANDARD.encode([0u8, 255, 10]), mode: 0o755 };
        let MachineRequest::PutFile { content, .. } = request else { unreachable!() };
        assert_eq!(file_content(&content), Some(vec![0, 255, 10]));
        assert_eq!(file_content("not base64!"), None);
    }
}
