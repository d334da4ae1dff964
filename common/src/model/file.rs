use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::{input::request_body, Timestamp};

/// An uploadable file (seed `File`): its metadata; the files plugin keeps the bytes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(example)]
pub struct File {
    /// Unique id (made by the server, or an administrator's choice).
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
    pub created_at: Timestamp,
    /// When it was moved to the trash (null: not deleted).
    #[oai(nullable)]
    pub deleted_at: Option<Timestamp>,
}

request_body! {
    /// A new file's metadata. The server makes the id (only administrators may choose
    /// one) and the times; a user's new files are theirs. Unknown fields, `null` and
    /// values of the wrong JSON type are refused with a 400 naming the field.
    #[oai(example)]
    pub struct NewFile {
        /// Administrators only: the id (default: one the server makes).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id: Option<String>,
        /// The owner (default: yours). Only administrators give another owner (0: shared,
        /// -1: global); an administrator's file without one is shared.
        #[oai(validator(minimum(value = "-1")))]
        pub id_owner: Option<i64>,
        /// Name (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub name: Option<String>,
        /// Version (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub version: Option<String>,
        /// The operating system it is for (default empty).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub os_type: Option<String>,
        /// Where the server keeps it (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub localpath: Option<String>,
        /// Where it goes inside a machine (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub remotepath: Option<String>,
        /// Size in bytes (default 0).
        #[oai(validator(minimum(value = "0")))]
        pub filesize: Option<i64>,
    }
}

request_body! {
    /// Changes to a file's metadata: only the fields given change. The path names it.
    /// Only administrators change `id_owner`. Unknown fields, `null` and values of the
    /// wrong JSON type are refused with a 400 naming the field.
    #[oai(example)]
    pub struct FilePatch {
        /// Administrators only: the new owner (0: shared, -1: global).
        #[oai(validator(minimum(value = "-1")))]
        pub id_owner: Option<i64>,
        /// Name.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub name: Option<String>,
        /// Version.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub version: Option<String>,
        /// The operating system it is for.
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub os_type: Option<String>,
        /// Where the server keeps it.
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub localpath: Option<String>,
        /// Where it goes inside a machine.
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub remotepath: Option<String>,
        /// Size in bytes.
        #[oai(validator(minimum(value = "0")))]
        pub filesize: Option<i64>,
    }
}

impl poem_openapi::types::Example for File {
    fn example() -> Self {
        File {
            id: "win10DummyFile".into(),
            name: "setup.exe".into(),
            version: "10".into(),
            os_type: "win10".into(),
            localpath: "/srv/files/setup.exe".into(),
            remotepath: "C:\\setup.exe".into(),
            filesize: 1_048_576,
            created_at: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            ..File::default()
        }
    }
}

impl poem_openapi::types::Example for NewFile {
    fn example() -> Self {
        NewFile {
            name: Some("setup.exe".into()),
            os_type: Some("win10".into()),
            localpath: Some("/srv/files/setup.exe".into()),
            filesize: Some(1_048_576),
            ..NewFile::default()
        }
    }
}

impl poem_openapi::types::Example for FilePatch {
    fn example() -> Self {
        FilePatch { version: Some("11".into()), ..FilePatch::default() }
    }
}
