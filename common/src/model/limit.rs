use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Resource limits of an owner (seed `RessourceInfo`, table `limits`); owner -1 holds
/// the global limits. A value of -1 means unlimited.
///
/// As a request body, unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default, deny_unknown_fields)]
pub struct RessourceInfo {
    /// The owner these limits apply to (-1: everyone without limits of their own).
    #[oai(validator(minimum(value = "-1")))]
    pub id_owner: i64,
    /// Virtual machines.
    #[oai(validator(minimum(value = "-1")))]
    pub vm_max: i64,
    /// Containers.
    #[oai(validator(minimum(value = "-1")))]
    pub container_max: i64,
    /// Objects of any kind.
    #[oai(validator(minimum(value = "-1")))]
    pub obj_max: i64,
    /// CPU cores.
    #[oai(validator(minimum(value = "-1")))]
    pub cpu_max: i64,
    /// Memory in bytes.
    #[oai(validator(minimum(value = "-1")))]
    pub mem_max: i64,
    /// Disk in bytes.
    #[oai(validator(minimum(value = "-1")))]
    pub dsk_max: i64,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}

impl RessourceInfo {
    /// The sum of two usages (seed `RessourceInfo.add`).
    pub fn add(&self, other: &RessourceInfo) -> RessourceInfo {
        RessourceInfo {
            id_owner: self.id_owner,
            vm_max: self.vm_max + other.vm_max,
            container_max: self.container_max + other.container_max,
            obj_max: self.obj_max + other.obj_max,
            cpu_max: self.cpu_max + other.cpu_max,
            mem_max: self.mem_max + other.mem_max,
            dsk_max: self.dsk_max + other.dsk_max,
            deleted_at: None,
        }
    }
}
