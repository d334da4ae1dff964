use poem_openapi::{types::MaybeUndefined, Object};
use serde::{Deserialize, Serialize};

use super::{input::request_body, Timestamp};

/// A configurable application: installed into a copy of a template object from a file
/// (seed `Application`, table `template_applications`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(example)]
pub struct Application {
    /// Unique id (made by the server, or an administrator's choice).
    pub id: String,
    /// The owner (0: shared, -1: global).
    pub id_owner: i64,
    /// Name, unique per owner.
    pub name: String,
    /// Version.
    pub version: String,
    /// The file to copy in (null: none).
    #[oai(nullable)]
    pub id_file: Option<String>,
    /// The object cloned to install it (null: none).
    #[oai(nullable)]
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
    pub created_at: Timestamp,
    /// When it was moved to the trash (null: not deleted).
    #[oai(nullable)]
    pub deleted_at: Option<Timestamp>,
}

request_body! {
    /// A new application. The server makes the id (only administrators may choose one)
    /// and the times; a user's new applications are theirs. The file and the template
    /// must be ones you may see. Unknown fields, `null` and values of the wrong JSON type
    /// are refused with a 400 naming the field.
    #[oai(example)]
    pub struct NewApplication {
        /// Administrators only: the id (default: one the server makes).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id: Option<String>,
        /// The owner (default: yours). Only administrators give another owner (0: shared,
        /// -1: global); an administrator's application without one is shared.
        #[oai(validator(minimum(value = "-1")))]
        pub id_owner: Option<i64>,
        /// Name, unique per owner, not blank.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*[^\\x00\\s][^\\x00]*$"))]
        pub name: String,
        /// Version (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub version: Option<String>,
        /// The file to copy in (default: none).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id_file: Option<String>,
        /// The object cloned to install it (default: none).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id_template: Option<String>,
        /// The operating system it is for (default empty).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub os_type: Option<String>,
        /// The installer's path (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub installer: Option<String>,
        /// The installer's arguments (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub installer_args: Option<String>,
        /// The installer's kind (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub installer_type: Option<String>,
        /// The installed executable (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub target: Option<String>,
        /// The executable's arguments (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub target_args: Option<String>,
    }
}

request_body! {
    /// Changes to an application: only the fields given change; `null` clears `id_file`
    /// and `id_template`. The path names it. Only administrators change `id_owner`.
    /// Unknown fields, `null` elsewhere and values of the wrong JSON type are refused with
    /// a 400 naming the field.
    #[oai(example)]
    pub struct ApplicationPatch {
        /// Administrators only: the new owner (0: shared, -1: global).
        #[oai(validator(minimum(value = "-1")))]
        pub id_owner: Option<i64>,
        /// Name, unique per owner, not blank.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*[^\\x00\\s][^\\x00]*$"))]
        pub name: Option<String>,
        /// Version.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub version: Option<String>,
        /// The file to copy in (null: none).
        #[oai(nullable, validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id_file: MaybeUndefined<String>,
        /// The object cloned to install it (null: none).
        #[oai(nullable, validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id_template: MaybeUndefined<String>,
        /// The operating system it is for.
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub os_type: Option<String>,
        /// The installer's path.
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub installer: Option<String>,
        /// The installer's arguments.
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub installer_args: Option<String>,
        /// The installer's kind.
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub installer_type: Option<String>,
        /// The installed executable.
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub target: Option<String>,
        /// The executable's arguments.
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub target_args: Option<String>,
    }
}

impl poem_openapi::types::Example for Application {
    fn example() -> Self {
        Application {
            id: "a3c1f0e2-6d4b-4f8a-b2e1-9c7d5e3f1a20".into(),
            id_owner: 7,
            name: "editor".into(),
            version: "1.2".into(),
            id_file: Some("win10DummyFile".into()),
            id_template: None,
            os_type: "linux".into(),
            installer: "/opt/install.sh".into(),
            target: "/usr/bin/editor".into(),
            created_at: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            ..Application::default()
        }
    }
}

impl poem_openapi::types::Example for NewApplication {
    fn example() -> Self {
        NewApplication {
            name: "editor".into(),
            version: Some("1.2".into()),
            os_type: Some("linux".into()),
            installer: Some("/opt/install.sh".into()),
            target: Some("/usr/bin/editor".into()),
            ..NewApplication::default()
        }
    }
}

impl poem_openapi::types::Example for ApplicationPatch {
    fn example() -> Self {
        ApplicationPatch { version: Some("1.3".into()), id_template: MaybeUndefined::Null, ..ApplicationPatch::default() }
    }
}
