//! `info.toml`.

use super::*;

file! {
    /// `info.toml`: facts about the site, served by the info plugin.
    InfoFile {
        /// `[sys]`
        sys: SysSection,
    }
}

file! {
    /// `[sys]`
    SysSection {
        /// The site's name, shown in the UI and in `/api/v1/info/system`.
        site_name: String,
        /// A free description of the site.
        description: String,
    }
}
