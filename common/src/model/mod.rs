//! The domain model of the original (seed 000, `src.app.daas.common.model`) and what the
//! rest of the product stores beside it: what the db backend keeps and the other plugins
//! work with.
//!
//! Each type is both the backend's wire type (serde, secrets included, for the plugins
//! that connect) and the REST API's schema (poem-openapi): secret fields are
//! `write_only`, so no API response ever carries them, and server-set fields
//! (`created_at`, `deleted_at`, ...) are `read_only`. A secret field is an `Option`: on
//! an update, `None` keeps the stored value (a client never reads a secret, so it cannot
//! send it back).
//!
//! The REST API's bodies ([`DaasObject`], [`Environment`], [`Application`], [`File`],
//! [`RessourceInfo`], [`AccessGrant`], [`Node`]) refuse unknown fields and carry what the
//! server checks as schema validators (text lengths as the columns hold them, ranges,
//! [`ID_PATTERN`]), so `/openapi.json` states the rules and a body breaking one is
//! refused with a 400 naming the field. The db backend does not run these validators.

mod access;
mod application;
mod environment;
mod file;
mod grant;
mod instance;
mod limit;
mod node;
mod object;
mod task;
mod usage;

pub use access::{AccessToken, Group, Membership, Privilege, PrivilegeEffect, Role, Session, SubjectKind, User, UserRole};
pub use application::Application;
pub use environment::Environment;
pub use file::File;
pub use grant::{AccessGrant, VolumeMode};
pub use instance::{GuacamoleConnection, Instance};
pub use limit::RessourceInfo;
pub use node::Node;
pub use object::DaasObject;
pub use task::{Task, TaskState};
pub use usage::UsageRecord;

/// Timestamps of the model (UTC).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The characters of ids and of references to ids in the REST API: letters, digits, `_`
/// and `-`, so that an id is safe in a path, a file name and a log line (no `/`, `..`,
/// control characters, NUL or bidirectional overrides). The `#[oai(validator(pattern))]`
/// attributes repeat it as a literal (attributes take no constants); the db plugin's
/// schema test checks that every one does.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_-]*$";
