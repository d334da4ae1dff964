//! The configuration of a site: one TOML file per component (seed 000 §4, `ConfigFile`
//! and `ConfigSections`), each with a fixed set of sections and keys.
//!
//! The types here are the schema: they validate (unknown keys are refused, seed §4.3
//! "to prevent typos"), they document (`daas config schema` prints them as JSON Schema),
//! and plugins deserialize their file into them.

mod files;
mod load;
mod sections;
mod validate;

pub use files::ConfigFile;
pub use load::{load_file, load_site, ConfigProblem, EnvOverrides, SiteConfig, ENV_PREFIX};
pub use sections::*;
