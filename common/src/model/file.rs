use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// An uploadable file (seed `File`): its metadata; the files plugin keeps the bytes.
///
/// As a request body, unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default, deny_unknown_fields)]
pub struct File {
    /// Unique id (generated when empty).
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id: String,
    /// The owner (0: shared, -1: global).
    #[oai(validator(minimum(value = "-1")))]
    pub id_owner: i64,
    /// Name.
    #[oai(validator(max_length = 128))]
    pub name: String,
    /// Version.
    #[oai(validator(max_length = 128))]
    pub version: String,
    /// The operating system it is for.
    #[oai(validator(max_length = 32))]
    pub os_type: String,
    /// Where the server keeps it.
    #[oai(validator(max_length = 1024))]
    pub localpath: String,
    /// Where it goes inside a machine.
    #[oai(validator(max_length = 1024))]
    pub remotepath: String,
    /// Size in bytes.
    #[oai(validator(minimum(value = "0")))]
    pub filesize: i64,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}
