use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// An uploadable file (seed `File`): its metadata; the files plugin keeps the bytes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct File {
    /// Unique id (generated when empty).
    pub id: String,
    /// The owner (0: shared, -1: global).
    pub id_owner: i64,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The operating system it is for.
    pub os_type: String,
    /// Where the server keeps it.
    pub localpath: String,
    /// Where it goes inside a machine.
    pub remotepath: String,
    /// Size in bytes.
    pub filesize: i64,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}
