//! Typed backend protocols whose messages carry domain types (the db backend's), so they
//! live next to the model rather than in plugin-api.

use daas_plugin_api::{sdk::BackendProtocol, BackendName};
use serde::{Deserialize, Serialize};

use crate::model::DaasObject;

/// The db plugin's backend (`BackendName::Db`): the repositories of seed 000.
pub enum Db {}

/// Requests to [`Db`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DbRequest {
    /// The database's kind and migration state.
    Status,
    /// ObjectRepository.create_daas_object: fails with `Conflict` when the id exists.
    CreateObject {
        /// The object; secrets are encrypted before they are stored.
        object: Box<DaasObject>,
    },
    /// ObjectRepository.update_daas_object: fails with `NotFound`.
    UpdateObject {
        /// The object (matched by id).
        object: Box<DaasObject>,
    },
    /// ObjectRepository.get_daas_object.
    GetObject {
        /// The id.
        id: String,
    },
    /// ObjectRepository.get_daas_object_by_docker_id.
    GetObjectByDockerId {
        /// The Docker id.
        id_docker: String,
    },
    /// ObjectRepository.get_daas_object_by_proxmox_id.
    GetObjectByProxmoxId {
        /// The Proxmox VM id.
        id_proxmox: i64,
    },
    /// ObjectRepository.get_daas_objects_available: the owner's objects and the shared
    /// ones (owner 0).
    ObjectsAvailable {
        /// The owner.
        id_owner: i64,
    },
    /// ObjectRepository.delete_daas_object: fails with `NotFound`.
    DeleteObject {
        /// The id.
        id: String,
    },
    /// ObjectRepository.suggest_vmid: the lowest Proxmox VM id in 100..=254 no object
    /// uses; `Conflict` when all are taken.
    SuggestVmid,
}

/// Answers of [`Db`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DbResponse {
    /// The database's state.
    Status {
        /// `sqlite`, `mariadb` or `postgres`.
        db_type: String,
        /// Applied migrations, oldest first.
        applied: Vec<String>,
        /// Migrations not applied yet.
        pending: Vec<String>,
    },
    /// Done.
    Done,
    /// One object, if it exists (with its secrets decrypted: for the plugins that
    /// connect, never for clients).
    Object {
        /// The object (boxed: it is much larger than the other answers).
        object: Option<Box<DaasObject>>,
    },
    /// Objects.
    Objects {
        /// The objects.
        objects: Vec<DaasObject>,
    },
    /// A free Proxmox VM id.
    Vmid {
        /// The id.
        vmid: i64,
    },
}

impl BackendProtocol for Db {
    const NAME: BackendName = BackendName::Db;
    type Request = DbRequest;
    type Response = DbResponse;
}
