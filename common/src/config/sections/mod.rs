//! The sections of every config file (seed `ConfigSections`) and their keys.
//!
//! Every key has a default, so a missing file or section means "defaults". Sections whose
//! plugin is not implemented yet have no keys: any key in them is refused as unknown until
//! that plugin's issue defines them.

use std::path::PathBuf;

use daas_plugin_api::{LayerName, PluginName};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! file {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(default)]
        #[schemars(deny_unknown_fields)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }
    };
}

macro_rules! reserved_section {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        ///
        /// Reserved: its plugin has not defined keys yet, so every key is refused.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(default)]
        #[schemars(deny_unknown_fields)]
        pub struct $name {}
    };
}

mod auth;
mod ceph;
mod container;
mod db;
mod extensions;
mod files;
mod info;
mod limits;
mod logging;
mod messaging;
mod node;
mod proxy;
mod vm;

pub use auth::*;
pub use ceph::*;
pub use container::*;
pub use db::*;
pub use extensions::*;
pub use files::*;
pub use info::*;
pub use limits::*;
pub use logging::*;
pub use messaging::*;
pub use node::*;
pub use proxy::*;
pub use vm::*;
