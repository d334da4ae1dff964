//! `files.toml`.

use super::*;

file! {
    /// `files.toml`: file storage.
    FilesFile {
        /// `[filestore]`
        filestore: FilestoreSection,
    }
}
reserved_section!(
    /// `[filestore]`
    FilestoreSection
);
