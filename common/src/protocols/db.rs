//! The db backend's wire protocol (`BackendName::Db`). Callers use the typed
//! [`DbClient`](super::DbClient); the messages below are what travels.

use std::collections::HashMap;

use daas_plugin_api::{sdk::BackendProtocol, BackendName};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::model::*;

/// The db plugin's backend: the repositories of seed 000 and the product's other tables.
pub enum Db {}

impl BackendProtocol for Db {
    const NAME: BackendName = BackendName::Db;
    type Request = DbRequest;
    type Response = DbResponse;
}

/// The tables of the db plugin, by their SQL names (the seed's `Tablenames` and the
/// product's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableName {
    /// [`DaasObject`]s.
    DaasObjects,
    /// [`Environment`]s.
    Environments,
    /// [`Instance`]s.
    Instances,
    /// [`GuacamoleConnection`]s.
    GuacamoleConnections,
    /// [`File`]s.
    Files,
    /// [`Application`]s.
    TemplateApplications,
    /// [`RessourceInfo`] limits.
    Limits,
    /// [`User`]s.
    Users,
    /// [`Group`]s.
    Groups,
    /// [`Membership`]s.
    GroupMemberships,
    /// [`Privilege`]s.
    Privileges,
    /// [`Role`]s.
    Roles,
    /// [`UserRole`]s.
    UserRoles,
    /// [`AccessToken`]s.
    AccessTokens,
    /// [`Session`]s.
    Sessions,
    /// [`Task`]s.
    Tasks,
    /// [`AccessGrant`]s.
    AccessGrants,
    /// [`UsageRecord`]s.
    UsageRecords,
    /// [`Node`]s.
    Nodes,
}

impl TableName {
    /// Every table, parents before the tables that reference them (the order of an
    /// import; an export lists them alike).
    pub const ALL: [TableName; 19] = [
        TableName::Users,
        TableName::Groups,
        TableName::GroupMemberships,
        TableName::Privileges,
        TableName::Roles,
        TableName::UserRoles,
        TableName::AccessTokens,
        TableName::Sessions,
        TableName::Limits,
        TableName::Files,
        TableName::DaasObjects,
        TableName::TemplateApplications,
        TableName::Environments,
        TableName::GuacamoleConnections,
        TableName::Instances,
        TableName::Tasks,
        TableName::AccessGrants,
        TableName::UsageRecords,
        TableName::Nodes,
    ];

    /// The SQL name.
    pub fn as_str(self) -> &'static str {
        match self {
            TableName::DaasObjects => "daas_objects",
            TableName::Environments => "environments",
            TableName::Instances => "instances",
            TableName::GuacamoleConnections => "guacamole_connections",
            TableName::Files => "files",
            TableName::TemplateApplications => "template_applications",
            TableName::Limits => "limits",
            TableName::Users => "users",
            TableName::Groups => "groups",
            TableName::GroupMemberships => "group_memberships",
            TableName::Privileges => "privileges",
            TableName::Roles => "roles",
            TableName::UserRoles => "user_roles",
            TableName::AccessTokens => "access_tokens",
            TableName::Sessions => "sessions",
            TableName::Tasks => "tasks",
            TableName::AccessGrants => "access_grants",
            TableName::UsageRecords => "usage_records",
            TableName::Nodes => "nodes",
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TableName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TableName::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("no table `{s}`; the tables are {}", TableName::ALL.map(|t| t.as_str()).join(", ")))
    }
}

/// A model type stored in a table of the db backend.
pub trait Row: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Its table.
    const TABLE: TableName;
}

/// What is wrong with one field of a row given to [`DbRequest::Import`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's path in the row (`name`, `object_tasks[0]`; empty for the whole row).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "field `{}`: {}", self.field, self.message)
        }
    }
}

/// Reads `row` as the model `R`: the row with every field (defaults filled in), or what is
/// wrong with it. Unknown fields are problems too: a fixture's typo must not vanish.
fn normalize<R: Row>(row: &serde_json::Value) -> Result<serde_json::Value, Vec<FieldProblem>> {
    if !row.is_object() {
        let found = match row {
            serde_json::Value::Null => "nothing",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "a list",
            serde_json::Value::Object(_) => "a mapping",
        };
        return Err(vec![FieldProblem {
            field: String::new(),
            message: format!("a row must be a mapping of field names to values, found {found}"),
        }]);
    }
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let read: Result<R, _> = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(row, &mut note));
    match read {
        Ok(model) => {
            if unknown.is_empty() {
                return serde_json::to_value(model).map_err(|e| vec![FieldProblem { field: String::new(), message: e.to_string() }]);
            }
        }
        Err(e) => {
            let field = e.path().to_string();
            problems.push(FieldProblem { field: if field == "." { String::new() } else { field }, message: e.into_inner().to_string() });
        }
    }
    problems.extend(unknown.into_iter().map(|field| FieldProblem { field, message: format!("unknown field of `{}`", R::TABLE) }));
    Err(problems)
}

macro_rules! rows {
    ($($ty:ty => $table:ident),* $(,)?) => {
        $(impl Row for $ty { const TABLE: TableName = TableName::$table; })*

        impl TableName {
            /// Reads `row` as this table's model type, as [`DbRequest::Import`] does: the
            /// row with every field present (defaults filled in), or what is wrong: the
            /// first field with a wrong type and the unknown fields (those read before it,
            /// when there is one; fields are read in name order).
            pub fn normalize_row(self, row: &serde_json::Value) -> Result<serde_json::Value, Vec<FieldProblem>> {
                match self {
                    $(TableName::$table => normalize::<$ty>(row),)*
                }
            }
        }
    };
}

rows! {
    DaasObject => DaasObjects,
    Environment => Environments,
    Instance => Instances,
    GuacamoleConnection => GuacamoleConnections,
    File => Files,
    Application => TemplateApplications,
    RessourceInfo => Limits,
    User => Users,
    Group => Groups,
    Membership => GroupMemberships,
    Privilege => Privileges,
    Role => Roles,
    UserRole => UserRoles,
    AccessToken => AccessTokens,
    Session => Sessions,
    Task => Tasks,
    AccessGrant => AccessGrants,
    UsageRecord => UsageRecords,
    Node => Nodes,
}

/// One condition of a [`DbRequest::Find`]: the column equals one of the values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// The column's name.
    pub column: String,
    /// Any of these (an empty list matches nothing).
    pub any_of: Vec<serde_json::Value>,
}

impl Filter {
    /// `column = value`.
    pub fn eq(column: &str, value: impl Serialize) -> Filter {
        Filter { column: column.into(), any_of: vec![serde_json::to_value(value).unwrap_or_default()] }
    }

    /// `column IN (values)`.
    pub fn any_of<V: Serialize>(column: &str, values: impl IntoIterator<Item = V>) -> Filter {
        Filter { column: column.into(), any_of: values.into_iter().map(|v| serde_json::to_value(v).unwrap_or_default()).collect() }
    }
}

/// Requests to [`Db`]. Rows travel as JSON objects of the table's model type; keys
/// are the primary key's value (a string or a number; an array for a composite key).
/// Rows in a table's trash are invisible to every request but `Purge`/`Restore`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DbRequest {
    /// The database's kind and migration state.
    Status,
    /// Store a new row; answers it as stored (generated id, timestamps). `Conflict` when
    /// the key or a unique column exists, `BadRequest` when a referenced row is missing.
    Insert {
        /// The table.
        table: TableName,
        /// The row.
        row: serde_json::Value,
    },
    /// Replace a row's fields (matched by key); secrets given as null are kept. `NotFound`.
    Update {
        /// The table.
        table: TableName,
        /// The row.
        row: serde_json::Value,
    },
    /// One row by key.
    Get {
        /// The table.
        table: TableName,
        /// The key.
        key: serde_json::Value,
    },
    /// Rows where every filter holds, in key order (at most `limit`).
    Find {
        /// The table.
        table: TableName,
        /// Conditions, all of which must hold.
        filters: Vec<Filter>,
        /// At most this many rows (none: all).
        limit: Option<u64>,
    },
    /// Delete a row (into the trash where the table has one). `NotFound`.
    Delete {
        /// The table.
        table: TableName,
        /// The key.
        key: serde_json::Value,
    },
    /// Add `by` to an integer column of one row in one statement (`UPDATE t SET c = c + by
    /// WHERE key`), so that concurrent increments never overwrite each other; answers the
    /// new value as [`DbResponse::Counter`]. `NotFound` when no such row (rows in the
    /// trash count as absent), `BadRequest` when the column is not an integer column of
    /// the table (or is its key), or when the sum would not fit the column.
    Increment {
        /// The table.
        table: TableName,
        /// The row's key.
        key: serde_json::Value,
        /// The integer column.
        column: String,
        /// What to add (negative: subtract).
        by: i64,
    },
    /// ObjectRepository.suggest_vmid: the lowest Proxmox VM id in 100..=254 no object
    /// uses; `Conflict` when all are taken.
    SuggestVmid,
    /// The connection with its password: for the proxy only (other requests answer
    /// connections without it).
    ConnectionWithSecret {
        /// The connection's id.
        id: String,
    },
    /// Apply the pending schema migrations (`daas db migrate`); answers
    /// [`DbResponse::Migrated`].
    Migrate,
    /// Every row of every table, trashed ones included, as the model's JSON (`daas
    /// export`). Secrets stay sealed (`enc:v1:...`), readable only with this site's
    /// `secret_key`. Answers [`DbResponse::Tables`].
    Export,
    /// Insert rows into their tables in one transaction: all or nothing (`daas import`).
    /// Tables are filled parents first ([`TableName::ALL`]); each row is read as the
    /// table's model (missing fields take their defaults, unknown ones are refused) and
    /// keeps the ids and timestamps it gives. A secret is given in plain text (sealed on
    /// the way in) or sealed with this site's key (as `Export` answers it). `BadRequest`
    /// naming the table, row and field when a row is refused. Answers
    /// [`DbResponse::Imported`].
    Import {
        /// The rows of each table.
        tables: HashMap<TableName, Vec<serde_json::Value>>,
        /// Empty every table first (all of them, not only those given).
        drop_all: bool,
    },
    /// Set some fields of one live row and leave the others as they are in the database:
    /// one UPDATE of those columns only. `Update` writes back every field the caller read,
    /// so a change another request made meanwhile to another field (a user disabled, a
    /// token revoked) would be undone; `Patch` cannot. Fields are named as in the model;
    /// secrets given in plain text are sealed. `NotFound`; `BadRequest` for a field the
    /// table does not have, the key, or an invalid value.
    Patch {
        /// The table.
        table: TableName,
        /// The row's key.
        key: serde_json::Value,
        /// The fields to set and their new values.
        fields: serde_json::Map<String, serde_json::Value>,
    },
}

/// Answers of [`Db`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DbResponse {
    /// The database's state.
    Status {
        /// `sqlite`, `mariadb` or `postgres`.
        db_type: String,
        /// Applied migrations, oldest first.
        applied: Vec<String>,
        /// Migrations not applied yet.
        pending: Vec<String>,
    },
    /// Done.
    Done,
    /// One row, if it exists.
    Row {
        /// The row.
        row: Option<serde_json::Value>,
    },
    /// Rows.
    Rows {
        /// The rows.
        rows: Vec<serde_json::Value>,
    },
    /// The value of a counter after [`DbRequest::Increment`].
    Counter {
        /// The new value.
        value: i64,
    },
    /// A free Proxmox VM id.
    Vmid {
        /// The id.
        vmid: i64,
    },
    /// The migrations that [`DbRequest::Migrate`] applied, oldest first (empty: none was
    /// pending).
    Migrated {
        /// Their names.
        applied: Vec<String>,
    },
    /// The rows of every table ([`DbRequest::Export`]).
    Tables {
        /// The rows of each table, in key order.
        tables: HashMap<TableName, Vec<serde_json::Value>>,
    },
    /// What [`DbRequest::Import`] did.
    Imported {
        /// Rows removed from each table by `drop_all` (tables it emptied).
        removed: HashMap<TableName, u64>,
        /// Rows inserted into each table (tables with rows given).
        inserted: HashMap<TableName, u64>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_read_as_its_model_with_every_problem_named() {
        let full = TableName::Users.normalize_row(&serde_json::json!({"name": "ann"})).unwrap();
        assert_eq!(full["name"], "ann");
        assert_eq!(full["admin"], false, "missing fields take the model's defaults");
        let problems = TableName::Users.normalize_row(&serde_json::json!({"name": "ann", "adm": 1, "admin": "yes"})).unwrap_err();
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(text.contains(&"field `admin`: invalid type: string \"yes\", expected a boolean".to_string()), "{text:?}");
        assert!(text.contains(&"field `adm`: unknown field of `users`".to_string()), "{text:?}");
        let nested = TableName::DaasObjects.normalize_row(&serde_json::json!({"object_tasks": "x"})).unwrap_err();
        assert_eq!(nested[0].field, "object_tasks");
        let not_a_row = TableName::Nodes.normalize_row(&serde_json::json!("n1")).unwrap_err();
        assert_eq!(not_a_row[0].to_string(), "a row must be a mapping of field names to values, found a string");
    }
}
