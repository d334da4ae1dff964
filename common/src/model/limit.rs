use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::{input::request_body, Timestamp};

/// Resource limits of an owner (seed `RessourceInfo`, table `limits`); owner -1 holds
/// the global limits. A value of -1 means unlimited.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(example)]
pub struct RessourceInfo {
    /// The owner these limits apply to (-1: everyone without limits of their own).
    pub id_owner: i64,
    /// Virtual machines (-1: unlimited).
    pub vm_max: i64,
    /// Containers (-1: unlimited).
    pub container_max: i64,
    /// Objects of any kind (-1: unlimited).
    pub obj_max: i64,
    /// CPU cores (-1: unlimited).
    pub cpu_max: i64,
    /// Memory in bytes (-1: unlimited).
    pub mem_max: i64,
    /// Disk in bytes (-1: unlimited).
    pub dsk_max: i64,
    /// When it was moved to the trash (null: not deleted).
    #[oai(nullable)]
    pub deleted_at: Option<Timestamp>,
}

request_body! {
    /// New limits of an owner (administrators only). Each limit left out is 0. Unknown
    /// fields, `null` and values of the wrong JSON type are refused with a 400 naming the
    /// field.
    #[oai(example)]
    pub struct NewRessourceInfo {
        /// The owner these limits apply to (-1: everyone without limits of their own;
        /// default 0).
        #[oai(validator(minimum(value = "-1")))]
        pub id_owner: Option<i64>,
        /// Virtual machines (-1: unlimited; default 0).
        #[oai(validator(minimum(value = "-1")))]
        pub vm_max: Option<i64>,
        /// Containers (-1: unlimited; default 0).
        #[oai(validator(minimum(value = "-1")))]
        pub container_max: Option<i64>,
        /// Objects of any kind (-1: unlimited; default 0).
        #[oai(validator(minimum(value = "-1")))]
        pub obj_max: Option<i64>,
        /// CPU cores (-1: unlimited; default 0).
        #[oai(validator(minimum(value = "-1")))]
        pub cpu_max: Option<i64>,
        /// Memory in bytes (-1: unlimited; default 0).
        #[oai(validator(minimum(value = "-1")))]
        pub mem_max: Option<i64>,
        /// Disk in bytes (-1: unlimited; default 0).
        #[oai(validator(minimum(value = "-1")))]
        pub dsk_max: Option<i64>,
    }
}

request_body! {
    /// Changes to an owner's limits (administrators only): only the limits given change.
    /// The path names the owner. Unknown fields, `null` and values of the wrong JSON type
    /// are refused with a 400 naming the field.
    #[oai(example)]
    pub struct RessourceInfoPatch {
        /// Virtual machines (-1: unlimited).
        #[oai(validator(minimum(value = "-1")))]
        pub vm_max: Option<i64>,
        /// Containers (-1: unlimited).
        #[oai(validator(minimum(value = "-1")))]
        pub container_max: Option<i64>,
        /// Objects of any kind (-1: unlimited).
        #[oai(validator(minimum(value = "-1")))]
        pub obj_max: Option<i64>,
        /// CPU cores (-1: unlimited).
        #[oai(validator(minimum(value = "-1")))]
        pub cpu_max: Option<i64>,
        /// Memory in bytes (-1: unlimited).
        #[oai(validator(minimum(value = "-1")))]
        pub mem_max: Option<i64>,
        /// Disk in bytes (-1: unlimited).
        #[oai(validator(minimum(value = "-1")))]
        pub dsk_max: Option<i64>,
    }
}

impl poem_openapi::types::Example for RessourceInfo {
    fn example() -> Self {
        RessourceInfo {
            id_owner: 7,
            vm_max: 1,
            container_max: 4,
            obj_max: 10,
            cpu_max: 8,
            mem_max: 16 << 30,
            dsk_max: -1,
            deleted_at: None,
        }
    }
}

impl poem_openapi::types::Example for NewRessourceInfo {
    fn example() -> Self {
        NewRessourceInfo { id_owner: Some(7), container_max: Some(4), cpu_max: Some(8), dsk_max: Some(-1), ..NewRessourceInfo::default() }
    }
}

impl poem_openapi::types::Example for RessourceInfoPatch {
    fn example() -> Self {
        RessourceInfoPatch { container_max: Some(6), ..RessourceInfoPatch::default() }
    }
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
