//! Typed backend protocols whose messages carry domain types (the db backend's, the
//! container and limits backends', the machine contract), so they live next to the model rather than in plugin-api.

/// One request of `$client` (a `BackendClient`, or a client with the same `expect`) whose
/// answer must match `$pat`; another answer is the SDK's wrong-answer error.
macro_rules! expect {
    ($client:expr, $req:expr, $pat:pat => $out:expr) => {
        $client
            .expect($req, |answer| match answer {
                $pat => Ok($out),
                other => Err(other),
            })
            .await
    };
}

mod container;
mod db;
mod db_client;
mod limits;
mod machine;
#[cfg(feature = "testing")]
mod memory;
mod phases;
mod vm;

pub use container::{
    Caller, Container, ContainerClient, ContainerInfo, ContainerRequest, ContainerResponse, ContainerSpec, ContainerStats, DaemonInfo,
    ImageInfo,
};
pub use db::{Db, DbRequest, DbResponse, FieldProblem, Filter, Row, TableName};
pub use db_client::{DbClient, DbStatus, ImportReport};
pub use limits::{Limits, LimitsRequest, LimitsResponse};
pub use machine::{
    file_content, ContainerMachine, Endpoint, Machine, MachineAnswer, MachineClient, MachineEnvelope, MachineKind, MachineRequest,
    MachineResponse, MachineSpec, VmMachine,
};
#[cfg(feature = "testing")]
pub use memory::MemoryDb;
pub use phases::{AppStarted, Phases, PhasesClient, PhasesRequest, PhasesResponse};
pub use vm::{Vm, VmInfo, VmInstance, VmRequest, VmResponse};
