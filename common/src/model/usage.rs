use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A usage metering record (seed 004 `UsageRecords`): what an owner's instance used over
/// a period.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct UsageRecord {
    /// Unique id (assigned by the database).
    #[oai(read_only)]
    pub id: i64,
    /// The owner.
    pub id_owner: i64,
    /// The object used.
    pub id_object: String,
    /// The instance (null: none).
    #[oai(nullable)]
    pub id_instance: Option<String>,
    /// `vm` or `container`.
    pub kind: String,
    /// Start of the period.
    pub period_start: Timestamp,
    /// End of the period.
    pub period_end: Timestamp,
    /// CPU seconds used.
    pub cpu_seconds: f64,
    /// Peak memory in bytes.
    pub mem_bytes_max: i64,
    /// Bytes sent and received.
    pub net_bytes: i64,
}
