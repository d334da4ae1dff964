//! An in-memory db backend for tests and benches (feature `testing`): tables of JSON
//! rows behind [`DbClient::from_fn`] that count the requests they answer, so that a test
//! can tell how many db backend calls a piece of code makes.
//!
//! It is not the db plugin: no SQL, no constraints, no trash, no cascades. Rows are keyed
//! by their `id` column (tables with a composite key can be filled and searched, not read
//! or changed by key); `Insert` gives a row without a numeric id the next one. Any other
//! request answers `BadRequest`, so that a test notices it.
//!
//! ```ignore
//! let db = MemoryDb::new().with(TableName::Groups, [json!({"id": 1, "is_static": true})]);
//! let guard = Guard::new(db.client(), &config);
//! guard.verify("p", 7).await?;
//! assert_eq!(db.take_calls(), 4);
//! ```

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use daas_plugin_api::abi::{BackendError, BackendErrorKind};
use serde_json::Value;

use super::{DbClient, DbRequest, DbResponse, TableName};

/// The tables and the request counter; clones share them.
#[derive(Clone, Default)]
pub struct MemoryDb {
    tables: Arc<Mutex<HashMap<TableName, Vec<Value>>>>,
    calls: Arc<AtomicUsize>,
}

fn bad(message: String) -> BackendError {
    BackendError::new(BackendErrorKind::BadRequest, message)
}

fn has_id(row: &Value, key: &Value) -> bool {
    row.get("id") == Some(key)
}

impl MemoryDb {
    /// Empty tables.
    pub fn new() -> MemoryDb {
        MemoryDb::default()
    }

    /// With these rows added to a table.
    pub fn with(self, table: TableName, rows: impl IntoIterator<Item = Value>) -> MemoryDb {
        self.lock().entry(table).or_default().extend(rows);
        self
    }

    /// A client whose every request is answered (and counted) here.
    pub fn client(&self) -> DbClient {
        let db = self.clone();
        DbClient::from_fn(move |request| {
            db.calls.fetch_add(1, Ordering::SeqCst);
            let answer = db.answer(request);
            Box::pin(async move { answer })
        })
    }

    /// The requests answered so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The requests answered since the last call, counting from zero again.
    pub fn take_calls(&self) -> usize {
        self.calls.swap(0, Ordering::SeqCst)
    }

    /// A table's rows as they stand.
    pub fn rows(&self, table: TableName) -> Vec<Value> {
        self.lock().get(&table).cloned().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TableName, Vec<Value>>> {
        // A test that panicked while holding the lock has failed already; the rows are
        // still consistent (every change below is one push, replace or remove).
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn answer(&self, request: DbRequest) -> Result<DbResponse, BackendError> {
        let mut tables = self.lock();
        match request {
            DbRequest::Get { table, key } => {
                Ok(DbResponse::Row { row: tables.get(&table).and_then(|rows| rows.iter().find(|r| has_id(r, &key))).cloned() })
            }
            DbRequest::Find { table, filters, limit } => {
                let rows = tables.get(&table).map(Vec::as_slice).unwrap_or_default();
                let matching = rows.iter().filter(|r| filters.iter().all(|f| f.any_of.contains(&r[f.column.as_str()])));
                let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
                Ok(DbResponse::Rows { rows: matching.take(limit).cloned().collect() })
            }
            DbRequest::Insert { table, mut row } => {
                let rows = tables.entry(table).or_default();
                if row["id"].as_i64() == Some(0) {
                    let next = rows.iter().filter_map(|r| r["id"].as_i64()).max().unwrap_or(0) + 1;
                    row["id"] = next.into();
                }
                if row.get("id").is_some() && rows.iter().any(|r| has_id(r, &row["id"])) {
                    return Err(BackendError::new(BackendErrorKind::Conflict, format!("{table}: id {} exists", row["id"])));
                }
                rows.push(row.clone());
                Ok(DbResponse::Row { row: Some(row) })
            }
            DbRequest::Update { table, row } => {
                let rows = tables.entry(table).or_default();
                let stored = rows.iter_mut().find(|r| has_id(r, &row["id"])).ok_or_else(|| not_found(table, &row["id"]))?;
                *stored = row;
                Ok(DbResponse::Done)
            }
            DbRequest::Delete { table, key } => {
                let rows = tables.entry(table).or_default();
                let at = rows.iter().position(|r| has_id(r, &key)).ok_or_else(|| not_found(table, &key))?;
                rows.remove(at);
                Ok(DbResponse::Done)
            }
            DbRequest::Increment { table, key, column, by } => {
                // The model's defaults tell an integer column from the others, whatever the
                // test's rows leave out; the lock above makes the increment atomic.
                let model = table.normalize_row(&serde_json::json!({})).map_err(|e| bad(format!("{table}: {e:?}")))?;
                if column == "id" || !model.get(&column).is_some_and(|v| v.is_i64() || v.is_u64()) {
                    return Err(bad(format!("`{column}` of `{table}` is not an integer column; only integer columns count")));
                }
                let rows = tables.entry(table).or_default();
                let row = rows.iter_mut().find(|r| has_id(r, &key)).ok_or_else(|| not_found(table, &key))?;
                let current = match row.get(&column) {
                    None | Some(Value::Null) => 0,
                    Some(v) => v.as_i64().ok_or_else(|| bad(format!("`{column}` of `{table}` row {key} holds {v}, not an integer")))?,
                };
                let value = current.checked_add(by).ok_or_else(|| bad(format!("`{column}` of `{table}` row {key} would overflow")))?;
                row[column.as_str()] = value.into();
                Ok(DbResponse::Counter { value })
            }
            DbRequest::Patch { table, key, fields } => {
                let rows = tables.entry(table).or_default();
                let row = rows.iter_mut().find(|r| has_id(r, &key)).ok_or_else(|| not_found(table, &key))?;
                for (field, value) in fields {
                    row[field.as_str()] = value;
                }
                Ok(DbResponse::Done)
            }
            other => Err(bad(format!("the in-memory db does not simulate {other:?}"))),
        }
    }
}

fn not_found(table: TableName, key: &Value) -> BackendError {
    BackendError::new(BackendErrorKind::NotFound, format!("{table}: no row with id {key}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        model::{Role, Session, User},
        protocols::Filter,
    };

    #[test]
    fn it_answers_the_generic_requests_and_counts_them() {
        daas_plugin_api::futures::executor::block_on(async {
            let db = MemoryDb::new().with(TableName::Sessions, [json!({"id": "d1", "id_user": 7})]);
            let c = db.client();
            assert_eq!(c.get::<Session>("d1").await.unwrap().unwrap().id_user, 7);
            assert!(c.get::<Session>("d2").await.unwrap().is_none());
            let a = c.insert(&Role { name: "a".into(), ..Default::default() }).await.unwrap();
            let b = c.insert(&Role { name: "b".into(), ..Default::default() }).await.unwrap();
            assert_eq!((a.id, b.id), (1, 2));
            let found: Vec<Role> = c.find(vec![Filter::eq("name", "b")]).await.unwrap();
            assert_eq!(found.len(), 1);
            c.delete::<Session>("d1").await.unwrap();
            assert_eq!(c.delete::<Session>("d1").await.unwrap_err().kind, BackendErrorKind::NotFound);
            assert_eq!(db.take_calls(), 7);
            assert_eq!(c.suggest_vmid().await.unwrap_err().kind, BackendErrorKind::BadRequest);
            assert_eq!(db.calls(), 1);
        });
    }

    #[test]
    fn increments_add_up_and_refuse_what_is_not_a_counter() {
        daas_plugin_api::futures::executor::block_on(async {
            let db = MemoryDb::new().with(TableName::Users, [json!({"id": 3, "name": "ann"})]);
            let c = db.client();
            let all = (0..50).map(|_| c.increment::<User>(3, "failed_logins", 1));
            let values = daas_plugin_api::futures::future::join_all(all).await;
            assert!(values.iter().all(Result::is_ok), "{values:?}");
            assert_eq!(c.get::<User>(3).await.unwrap().unwrap().failed_logins, 50, "a missing counter starts at the model's 0");
            assert_eq!(c.increment::<User>(3, "failed_logins", -50).await.unwrap(), 0);
            assert_eq!(c.increment::<User>(4, "failed_logins", 1).await.unwrap_err().kind, BackendErrorKind::NotFound);
            for column in ["name", "admin", "nope", "id"] {
                let e = c.increment::<User>(3, column, 1).await.unwrap_err();
                assert_eq!(e.kind, BackendErrorKind::BadRequest, "{column}: {e:?}");
            }
        });
    }
}
