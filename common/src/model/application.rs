use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A configurable application: installed into a copy of a template object from a file
/// (seed `Application`, table `template_applications`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct Application {
    /// Unique id (generated when empty).
    pub id: String,
    /// The owner (0: shared, -1: global).
    pub id_owner: i64,
    /// Name, unique per owner.
    pub name: String,
    /// Version.
    pub version: String,
    /// The file to copy in, if any.
    pub id_file: Option<String>,
    /// The object cloned to install it, if any.
    pub id_template: Option<String>,
    /// The operating system it is for.
    pub os_type: String,
    /// The installer's path.
    pub installer: String,
    /// The installer's arguments.
    pub installer_args: String,
    /// The installer's kind.
    pub installer_type: String,
    /// The installed executable.
    pub target: String,
    /// The executable's arguments.
    pub target_args: String,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}
