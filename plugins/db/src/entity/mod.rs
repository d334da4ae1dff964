//! The sea-orm tables, one module per table. Column names are the model's field names
//! (see `crate::table`).

pub mod access_grant;
pub mod access_token;
pub mod application;
pub mod daas_object;
pub mod environment;
pub mod file;
pub mod group;
pub mod group_membership;
pub mod guacamole_connection;
pub mod instance;
pub mod limit;
pub mod node;
pub mod privilege;
pub mod role;
pub mod session;
pub mod task;
pub mod usage_record;
pub mod user;
pub mod user_role;
