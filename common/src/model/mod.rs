//! The domain model of the original (seed 000, `src.app.daas.common.model`): what the
//! db backend stores and the other plugins work with. Plain serde types; the db plugin
//! maps them to its tables.

mod object;

pub use object::DaasObject;
