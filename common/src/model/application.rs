use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A configurable application: installed into a copy of a template object from a file
/// (seed `Application`, table `template_applications`).
///
/// As a request body, unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default, deny_unknown_fields)]
pub struct Application {
    /// Unique id (generated when empty).
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id: String,
    /// The owner (0: shared, -1: global).
    #[oai(validator(minimum(value = "-1")))]
    pub id_owner: i64,
    /// Name, unique per owner.
    #[oai(validator(max_length = 128))]
    pub name: String,
    /// Version.
    #[oai(validator(max_length = 128))]
    pub version: String,
    /// The file to copy in, if any.
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id_file: Option<String>,
    /// The object cloned to install it, if any.
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id_template: Option<String>,
    /// The operating system it is for.
    #[oai(validator(max_length = 32))]
    pub os_type: String,
    /// The installer's path.
    #[oai(validator(max_length = 1024))]
    pub installer: String,
    /// The installer's arguments.
    #[oai(validator(max_length = 1024))]
    pub installer_args: String,
    /// The installer's kind.
    #[oai(validator(max_length = 1024))]
    pub installer_type: String,
    /// The installed executable.
    #[oai(validator(max_length = 1024))]
    pub target: String,
    /// The executable's arguments.
    #[oai(validator(max_length = 1024))]
    pub target_args: String,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}
