//! Export and import of every table (`daas export`, `daas import`).
//!
//! An export is every row as the model's JSON, trash included, with secrets sealed: a
//! file written from it never holds a plaintext secret, and only a site with the same
//! `secret_key` can use them. An import is one transaction, so that a fixture with one bad
//! row changes nothing; its rows are read as the models first, every problem reported at
//! once with table, row and field.

use std::collections::HashMap;

use daas_common::protocols::TableName;
use daas_plugin_api::abi::BackendError;
use sea_orm::{AccessMode, ConnectionTrait, DbBackend, IsolationLevel, TransactionTrait};
use serde_json::Value;

use crate::{
    table::{bad_request, db_error, IdKind, Table, Tables},
    with_table,
};

/// At most this many problems of a fixture are listed (the first ones).
const MAX_PROBLEMS: usize = 50;

/// Every row of every table, from one consistent snapshot.
pub async fn export(tables: &Tables) -> Result<HashMap<TableName, Vec<Value>>, BackendError> {
    // SQLite's read transaction is a snapshot already (WAL) and takes no isolation level.
    let (isolation, access) = match tables.db.get_database_backend() {
        DbBackend::Sqlite => (None, None),
        _ => (Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)),
    };
    let txn = tables.db.begin_with_config(isolation, access).await.map_err(db_error)?;
    let mut out = HashMap::new();
    for table in TableName::ALL {
        let rows = with_table!(table, T => tables.all_rows::<T, _>(&txn).await)?;
        out.insert(table, rows);
    }
    txn.commit().await.map_err(db_error)?;
    Ok(out)
}

/// Rows removed by `drop_all` and rows inserted, per table.
pub type Counts = (HashMap<TableName, u64>, HashMap<TableName, u64>);

/// Import `given` in one transaction, after emptying every table when `drop_all`.
pub async fn import(tables: &Tables, given: HashMap<TableName, Vec<Value>>, drop_all: bool) -> Result<Counts, BackendError> {
    let rows = normalize(given)?;
    let txn = tables.db.begin().await.map_err(db_error)?;
    let mut removed = HashMap::new();
    if drop_all {
        // Children first, so that no foreign key is left dangling on the way.
        for table in TableName::ALL.into_iter().rev() {
            let n = with_table!(table, T => tables.remove_all::<T, _>(&txn).await)?;
            removed.insert(table, n);
        }
    }
    let mut inserted = HashMap::new();
    for (table, rows) in rows {
        let n = rows.len() as u64;
        for (i, row) in rows.into_iter().enumerate() {
            with_table!(table, T => tables.import_row::<T, _>(&txn, row).await)
                .map_err(|e| BackendError::new(e.kind, format!("table `{table}`, row {}: {}", i + 1, e.message)))?;
        }
        if n > 0 && txn.get_database_backend() == DbBackend::Postgres && with_table!(table, T => T::SPEC.id) == IdKind::Auto {
            restart_sequence(&txn, table).await?;
        }
        inserted.insert(table, n);
    }
    txn.commit().await.map_err(db_error)?;
    Ok((removed, inserted))
}

/// The rows in import order (parents first), each with every field of its model; or every
/// problem (up to [`MAX_PROBLEMS`]) as one `BadRequest`.
fn normalize(mut given: HashMap<TableName, Vec<Value>>) -> Result<Vec<(TableName, Vec<Value>)>, BackendError> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for table in TableName::ALL {
        let Some(rows) = given.remove(&table) else { continue };
        let mut normalized = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            match table.normalize_row(row) {
                Ok(mut full) => {
                    // The model fills in missing times with its default (1970); an import
                    // stamps them with the present instead, as an insert would.
                    for stamped in ["created_at", "updated_at"] {
                        if row.get(stamped).is_none_or(Value::is_null) {
                            if let Some(fields) = full.as_object_mut() {
                                fields.remove(stamped);
                            }
                        }
                    }
                    normalized.push(full);
                }
                Err(found) => problems.extend(found.into_iter().map(|p| format!("table `{table}`, row {}: {p}", i + 1))),
            }
        }
        out.push((table, normalized));
    }
    if problems.is_empty() {
        return Ok(out);
    }
    let total = problems.len();
    problems.truncate(MAX_PROBLEMS);
    let more = if total > MAX_PROBLEMS { format!("\n  ... and {} more", total - MAX_PROBLEMS) } else { String::new() };
    Err(bad_request(format!("the import has {total} problem(s), nothing was imported:\n  {}{more}", problems.join("\n  "))))
}

/// PostgreSQL's sequences do not move when ids are given: set the table's past its
/// largest id, so that the next insert without an id does not collide with an imported
/// row. (SQLite and MariaDB advance their counters on explicit ids.)
async fn restart_sequence<C: ConnectionTrait>(conn: &C, table: TableName) -> Result<(), BackendError> {
    let sql = format!(
        "SELECT setval(pg_get_serial_sequence('\"{t}\"', 'id'), COALESCE((SELECT MAX(id) FROM \"{t}\"), 0) + 1, false)",
        t = table.as_str()
    );
    conn.execute_unprepared(&sql).await.map_err(db_error)?;
    Ok(())
}
