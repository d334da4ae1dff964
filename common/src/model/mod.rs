//! The domain model of the original (seed 000, `src.app.daas.common.model`) and what the
//! rest of the product stores beside it: what the db backend keeps and the other plugins
//! work with.
//!
//! Each resource of the REST API has three schemas (DESIGN.md, "The API contract"):
//! `X` what is read (the type the db backend's callers use, secrets included in its
//! Rust fields for the plugins that connect, but never in the schema nor in an answer;
//! `required` lists exactly the fields always present; a field that can be null is
//! `nullable` and always sent), `NewX` the create body (server-set fields absent: times,
//! ids the server makes, owners; fields with defaults optional; secrets write-only) and
//! `XPatch` the update body (every field optional; only the given ones change; `null`
//! only where it clears a nullable field). The bodies are declared with
//! `request_body!` ([`input`]): unknown fields, `null` where not nullable and values of
//! the wrong JSON type are refused with a 400 naming the field, and what the server
//! checks is in their schema as validators (text lengths as the columns hold them,
//! ranges, [`ID_PATTERN`], no NUL), so `/openapi.json` states the rules. The db backend
//! does not run these validators.
//!
//! Enum fields carry no description of their own (it would wrap the `$ref` in an
//! `allOf` that some generators drop): their parent's description says what they mean.

mod access;
mod application;
mod environment;
mod file;
mod grant;
pub mod input;
mod instance;
mod lifecycle;
mod limit;
mod node;
mod object;
mod task;
mod usage;

pub use access::{AccessToken, Group, Membership, Privilege, PrivilegeEffect, Role, Session, SubjectKind, User, UserRole};
pub use application::{Application, ApplicationPatch, NewApplication};
pub use environment::{Environment, EnvironmentPatch, NewEnvironment};
pub use file::{File, FilePatch, NewFile};
pub use grant::{AccessGrant, AccessGrantPatch, NewAccessGrant, VolumeMode};
pub use instance::{GuacamoleConnection, Instance};
pub use lifecycle::{NewTransition, Transition};
pub use limit::{NewRessourceInfo, RessourceInfo, RessourceInfoPatch};
pub use node::{NewNode, Node, NodePatch};
pub use object::{DaasObject, DaasObjectPatch, NewDaasObject};
pub use task::{Task, TaskState};
pub use usage::UsageRecord;

/// Timestamps of the model (UTC; RFC 3339 in JSON).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// The characters of ids and of references to ids in the REST API: letters, digits, `_`
/// and `-`, so that an id is safe in a path, a file name and a log line (no `/`, `..`,
/// control characters, NUL or bidirectional overrides). The `#[oai(validator(pattern))]`
/// attributes repeat it as a literal (attributes take no constants); the db plugin's
/// schema test checks that every one does.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_-]*$";
