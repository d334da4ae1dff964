//! Typed backend protocols whose messages carry domain types (the db backend's), so they
//! live next to the model rather than in plugin-api.

mod db;
mod db_client;

pub use db::{Db, DbRequest, DbResponse, FieldProblem, Filter, Row, TableName};
pub use db_client::{DbClient, DbStatus, ImportReport};
