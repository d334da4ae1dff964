//! One generic repository for every table: insert, update, get, find, delete (into the
//! trash where the table has one), restore, purge and keyset pagination.
//!
//! Why generic: the seed's repositories differ only in their table and their filters,
//! and seventeen copies of the same upsert/select code would drift apart. A table's
//! particulars are data ([`Spec`]): its secrets, its JSON-as-text columns, whether it has
//! a trash, how ids are made. Rows cross between the model (`daas_common::model`) and the
//! entity (`crate::entity`) as JSON objects with the same field names; every table's
//! round trip is tested against the three databases, so a field that exists on one side
//! only fails a test rather than vanishing silently.

use std::str::FromStr;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use daas_common::protocols::{Filter, TableName};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    error::error_id,
};
use sea_orm::{
    sea_query::{Expr, SimpleExpr},
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ColumnType, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IdenStatic, IntoActiveModel, Iterable, ModelTrait, PrimaryKeyToColumn, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
    Value as SqlValue,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};

use crate::secrets::Secrets;

/// How the ids of a table's new rows are made when the caller leaves them empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A UUID (`id` column).
    Uuid,
    /// 32 hex characters (seed 001's mapping id).
    Hex32,
    /// The database assigns it (auto increment `id`).
    Auto,
    /// The caller must give it (natural keys).
    Given,
}

/// What is particular about a table.
pub struct Spec {
    /// Its name.
    pub table: TableName,
    /// What one row is called in messages ("object", "environment").
    pub noun: &'static str,
    /// How new ids are made.
    pub id: IdKind,
    /// Columns encrypted at rest. A secret given as null keeps the stored value on an
    /// update and takes its default (below, else empty) on an insert.
    pub secrets: &'static [&'static str],
    /// Defaults of secrets on insert.
    pub secret_defaults: &'static [(&'static str, &'static str)],
    /// Secrets the generic backend answers leave out (only a dedicated request reveals
    /// them).
    pub hidden_secrets: bool,
    /// Model fields stored as JSON text (the seed's `JsonType`).
    pub json_text: &'static [&'static str],
    /// Deleting moves a row to the trash (`deleted_at`) instead of removing it.
    pub trash: bool,
    /// Sets of columns that are unique together besides the key, as the migrations made
    /// them: a conflict names the fields of the set it broke.
    pub unique: &'static [&'static [&'static str]],
    /// Columns that hold the key of a row of another table (foreign keys): a missing one
    /// is named.
    pub references: &'static [(&'static str, TableName)],
    /// Adjusts a model's JSON into the entity's shape before storing (e.g. splits a
    /// field into columns); an error is the client's (400).
    pub to_row: fn(&mut Map<String, Value>) -> Result<(), String>,
    /// The reverse of `to_row`.
    pub from_row: fn(&mut Map<String, Value>),
}

impl Spec {
    /// A table without particular conversions.
    pub const fn plain(table: TableName, noun: &'static str, id: IdKind) -> Spec {
        Spec {
            table,
            noun,
            id,
            secrets: &[],
            secret_defaults: &[],
            hidden_secrets: false,
            json_text: &[],
            trash: false,
            unique: &[],
            references: &[],
            to_row: |_| Ok(()),
            from_row: |_| {},
        }
    }
}

/// A table: its entity and its [`Spec`].
pub trait Table: Send + Sync + 'static {
    /// The sea-orm entity.
    type Entity: EntityTrait<Model = Self::Row>;
    /// Its row type.
    type Row: ModelTrait<Entity = Self::Entity> + IntoActiveModel<Self::Active> + Serialize + DeserializeOwned + Clone + Send + Sync;
    /// Its active model.
    type Active: ActiveModelTrait<Entity = Self::Entity> + ActiveModelBehavior + Send;
    /// Its particulars.
    const SPEC: Spec;
}

/// A failure of the server itself (a bug, a row that does not decode, a database error
/// that is not the client's): its details go to the log under an error id, and the
/// client is answered the id only, never SQL, constraint names or values, which may
/// describe rows the caller may not see.
pub fn internal(e: impl std::fmt::Display) -> BackendError {
    let id = error_id();
    tracing::error!(error_id = %id, error = %e, "db request failed");
    BackendError::new(
        BackendErrorKind::Internal,
        format!("the database request failed (error id {id}); the server's log has the details, quote the id to an administrator"),
    )
}

/// An error of the database as the client's error: 503 when the database does not
/// answer (no connection in time, refused, lost, shutting down, locked), else
/// [`internal`]. Either way its text stays in the log.
pub fn db_error(e: DbErr) -> BackendError {
    if !unreachable(&e) {
        return internal(e);
    }
    let id = error_id();
    tracing::warn!(error_id = %id, error = %e, "the database does not answer");
    BackendError::new(
        BackendErrorKind::Unavailable,
        format!(
            "the database does not answer (error id {id}); try again in a moment, and if it persists ask an administrator to check \
             the database server"
        ),
    )
}

/// Whether an error says the database is out of reach or too busy rather than that the
/// request was wrong.
fn unreachable(e: &DbErr) -> bool {
    use sea_orm::{sqlx::Error as X, RuntimeErr};
    let x = match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x)) => x,
        _ => return false,
    };
    match &**x {
        X::Io(_) | X::Tls(_) | X::PoolTimedOut | X::PoolClosed | X::WorkerCrashed => true,
        X::Database(d) => {
            if d.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() {
                // SQLITE_BUSY and SQLITE_LOCKED (their extended codes too): another
                // writer held the file for longer than the busy timeout.
                return d.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6));
            }
            // SQLSTATE: class 08 connection exceptions, 57P0x shutdowns, 53300 too many
            // connections (PostgreSQL and MariaDB alike).
            d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c == "53300")
        }
        _ => false,
    }
}

/// A client error.
pub fn bad_request(message: impl Into<String>) -> BackendError {
    BackendError::new(BackendErrorKind::BadRequest, message)
}

fn not_found(spec: &Spec, key: &Value) -> BackendError {
    BackendError::new(BackendErrorKind::NotFound, format!("{} {} does not exist", spec.noun, show_key(key)))
}

fn show_key(key: &Value) -> String {
    match key {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// Maps constraint violations to what the client did wrong, without the database's text
/// (logged at debug level): where the fields cannot be looked up (a failed statement
/// aborts a PostgreSQL transaction), see [`Tables::write_failed`] for the precise message.
fn write_error(spec: &Spec, e: DbErr) -> BackendError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(detail)) => {
            tracing::debug!(table = %spec.table, %detail, "unique constraint violated");
            BackendError::new(
                BackendErrorKind::Conflict,
                format!("{} exists already (another {} has the same key or unique fields)", spec.noun, spec.noun),
            )
        }
        Some(SqlErr::ForeignKeyConstraintViolation(detail)) => {
            tracing::debug!(table = %spec.table, %detail, "foreign key constraint violated");
            if spec.references.is_empty() {
                BackendError::new(
                    BackendErrorKind::Conflict,
                    format!("the {} is still referred to by another row; remove that one first", spec.noun),
                )
            } else {
                let fields: Vec<String> = spec.references.iter().map(|(f, _)| format!("`{f}`")).collect();
                BackendError::new(
                    BackendErrorKind::NotFound,
                    format!("the {} refers to something that does not exist (check {})", spec.noun, fields.join(", ")),
                )
            }
        }
        _ => db_error(e),
    }
}

/// A table's column by name; 400 when it has none.
pub fn column<T: Table>(name: &str) -> Result<<T::Entity as EntityTrait>::Column, BackendError> {
    <T::Entity as EntityTrait>::Column::from_str(name).map_err(|_| bad_request(format!("table `{}` has no column `{name}`", T::SPEC.table)))
}

fn primary_columns<T: Table>() -> Vec<<T::Entity as EntityTrait>::Column> {
    <T::Entity as EntityTrait>::PrimaryKey::iter().map(|k| k.into_column()).collect()
}

/// A JSON value as an SQL value of the column's type.
fn sql_value<C: ColumnTrait>(col: &C, v: &Value) -> Result<SqlValue, String> {
    let ty = col.def().get_column_type().clone();
    let wrong = || format!("`{v}` is not a valid value for column `{}`", col.as_str());
    if v.as_str().is_some_and(|s| s.contains('\0')) {
        return Err(format!("a value for column `{}` contains a NUL character, which no row can hold", col.as_str()));
    }
    Ok(match (ty, v) {
        (_, Value::Null) => return Err(format!("column `{}` cannot be matched against null", col.as_str())),
        (ColumnType::BigInteger | ColumnType::Integer | ColumnType::SmallInteger, Value::Number(n)) => {
            SqlValue::BigInt(Some(n.as_i64().ok_or_else(wrong)?))
        }
        (ColumnType::BigInteger | ColumnType::Integer | ColumnType::SmallInteger, Value::String(s)) => {
            SqlValue::BigInt(Some(s.parse().map_err(|_| wrong())?))
        }
        (ColumnType::Double | ColumnType::Float, Value::Number(n)) => SqlValue::Double(Some(n.as_f64().ok_or_else(wrong)?)),
        (ColumnType::Boolean, Value::Bool(b)) => SqlValue::Bool(Some(*b)),
        (ColumnType::Boolean, Value::String(s)) => SqlValue::Bool(Some(s.parse().map_err(|_| wrong())?)),
        (ColumnType::TimestampWithTimeZone | ColumnType::Timestamp | ColumnType::DateTime, Value::String(s)) => {
            let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| wrong())?.with_timezone(&chrono::Utc);
            SqlValue::ChronoDateTimeUtc(Some(t))
        }
        (_, Value::String(s)) => SqlValue::String(Some(s.clone())),
        (_, Value::Bool(b)) => SqlValue::String(Some(b.to_string())),
        (_, Value::Number(n)) => SqlValue::String(Some(n.to_string())),
        _ => return Err(wrong()),
    })
}

/// The condition "primary key = key" (an array for a composite key).
fn key_condition<T: Table>(key: &Value) -> Result<Condition, BackendError> {
    let cols = primary_columns::<T>();
    let parts: Vec<&Value> = match key {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    if parts.len() != cols.len() {
        return Err(bad_request(format!("a key of `{}` has {} part(s), {} given", T::SPEC.table, cols.len(), parts.len())));
    }
    let mut cond = Condition::all();
    for (col, v) in cols.iter().zip(parts) {
        cond = cond.add(col.eq(sql_value(col, v).map_err(bad_request)?));
    }
    Ok(cond)
}

/// The key of a row's JSON (a single value, or an array for a composite key).
fn key_of<T: Table>(row: &Map<String, Value>) -> Value {
    let mut parts: Vec<Value> = primary_columns::<T>().iter().map(|c| row.get(c.as_str()).cloned().unwrap_or(Value::Null)).collect();
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Value::Array(parts)
    }
}

/// The filters of a `Find` as a condition.
pub fn filter_condition<T: Table>(filters: &[Filter]) -> Result<Condition, BackendError> {
    let mut cond = Condition::all();
    for f in filters {
        let col = column::<T>(&f.column)?;
        let mut any = Condition::any();
        for v in &f.any_of {
            any = any.add(if v.is_null() { col.is_null() } else { col.eq(sql_value(&col, v).map_err(bad_request)?) });
        }
        if f.any_of.is_empty() {
            // `IN ()` matches nothing.
            any = any.add(Expr::value(false));
        }
        cond = cond.add(any);
    }
    Ok(cond)
}

/// The MySQL driver sends times as `TIMESTAMP` parameters, which MariaDB turns into NULL
/// after 2038-01-19 03:14:07 UTC even for a `DATETIME` column: refuse such a time rather
/// than lose it (an expiry silently becoming "never" would be a hole).
fn check_mysql_range<T: Table>(v: &Map<String, Value>) -> Result<(), BackendError> {
    let last = chrono::DateTime::from_timestamp(i32::MAX as i64, 0).unwrap_or_default();
    for col in <T::Entity as EntityTrait>::Column::iter() {
        if !matches!(col.def().get_column_type(), ColumnType::TimestampWithTimeZone) {
            continue;
        }
        if let Some(Value::String(s)) = v.get(col.as_str()) {
            if chrono::DateTime::parse_from_rfc3339(s).is_ok_and(|t| t > last) {
                return Err(bad_request(format!(
                    "`{}` = {s} is after 2038-01-19T03:14:07Z, the last time this site's MariaDB database can store",
                    col.as_str()
                )));
            }
        }
    }
    Ok(())
}

/// Text longer than its column holds is refused on every database alike: PostgreSQL
/// and MariaDB would refuse it with an error of their own, SQLite would keep it, and a
/// row that SQLite took would then fail to import into the others.
fn check_lengths<T: Table>(v: &Map<String, Value>) -> Result<(), BackendError> {
    for col in <T::Entity as EntityTrait>::Column::iter() {
        let ColumnType::String(sea_orm::sea_query::StringLen::N(max)) = *col.def().get_column_type() else { continue };
        if let Some(Value::String(s)) = v.get(col.as_str()) {
            let chars = s.chars().count();
            if chars > max as usize {
                let secret = T::SPEC.secrets.contains(&col.as_str());
                return Err(bad_request(format!(
                    "`{}` of the {} is {chars} characters long{}; at most {max} fit",
                    col.as_str(),
                    T::SPEC.noun,
                    if secret { " once encrypted" } else { "" },
                )));
            }
        }
    }
    Ok(())
}

/// Text with a NUL character is refused on every database alike: PostgreSQL cannot
/// store it, the others would keep a row that then does not import into PostgreSQL.
fn check_nul<T: Table>(v: &Map<String, Value>) -> Result<(), BackendError> {
    match v.iter().find(|(_, x)| x.as_str().is_some_and(|s| s.contains('\0'))) {
        Some((field, _)) => Err(bad_request(format!(
            "`{field}` of the {} contains a NUL character, which no database here can store; remove it",
            T::SPEC.noun
        ))),
        None => Ok(()),
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    // Microseconds: what every one of the three databases keeps, so that a row read back
    // equals the row written.
    let t = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// Which write failed, for [`Tables::write_failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Insert,
    Update,
}

/// Which rows a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Rows not in the trash.
    Live,
    /// Rows in the trash.
    Trash,
}

/// One page of a listing.
pub struct Page {
    /// The rows, as model JSON.
    pub rows: Vec<Value>,
    /// The cursor of the next page (none: this is the last).
    pub next: Option<String>,
}

/// A listing's order: a column and a direction.
#[derive(Debug, Clone)]
pub struct Sort {
    /// The column.
    pub column: String,
    /// Descending.
    pub desc: bool,
}

/// How secrets leave [`Tables::decode_as`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// As null.
    Hide,
    /// Decrypted.
    Reveal,
    /// As stored (`enc:v1:...`): for an export, which must never write a plaintext secret
    /// to a file.
    Sealed,
}

/// Where a row given to [`Tables::encode_as`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A client's insert or update: the server stamps times and makes ids.
    Client,
    /// An import, which restores rows as they were: times and database-assigned ids are
    /// kept when given.
    Import,
}

/// The repositories over one connection.
#[derive(Clone)]
pub struct Tables {
    /// The connection.
    pub db: DatabaseConnection,
    /// The cipher of secrets at rest.
    pub secrets: Secrets,
}

impl Tables {
    /// A model's JSON as the table's row. `existing` is the stored row (JSON of the
    /// entity) on an update.
    fn encode<T: Table>(&self, row: Value, existing: Option<&Map<String, Value>>) -> Result<T::Row, BackendError> {
        self.encode_as::<T>(row, existing, Origin::Client)
    }

    /// A secret as stored: plain text is sealed; a value sealed with this site's key is
    /// stored as it is (an export read back), one sealed with another key is refused
    /// rather than stored as a secret nobody can open.
    fn seal_secret(&self, field: &str, value: &str) -> Result<String, BackendError> {
        if !Secrets::is_sealed(value) {
            return Ok(self.secrets.seal(value));
        }
        match self.secrets.open(value) {
            Ok(_) => Ok(value.to_string()),
            Err(_) => Err(bad_request(format!(
                "field `{field}`: the secret is sealed (enc:v1:) with another secret_key than this site's, so it could never be \
                 opened; import it into a site with the same [db] secret_key, or give it in plain text"
            ))),
        }
    }

    fn encode_as<T: Table>(&self, row: Value, existing: Option<&Map<String, Value>>, origin: Origin) -> Result<T::Row, BackendError> {
        let spec = &T::SPEC;
        let Value::Object(mut v) = row else {
            return Err(bad_request(format!("a {} must be a JSON object", spec.noun)));
        };
        (spec.to_row)(&mut v).map_err(bad_request)?;
        for field in spec.json_text {
            if let Some(x) = v.get_mut(*field) {
                *x = Value::String(x.to_string());
            }
        }
        for field in spec.secrets {
            match (v.get(*field), existing) {
                (Some(Value::String(given)), _) => {
                    let sealed = self.seal_secret(field, given)?;
                    v.insert(field.to_string(), Value::String(sealed));
                }
                (_, Some(old)) => {
                    v.insert(field.to_string(), old.get(*field).cloned().unwrap_or(Value::Null));
                }
                (_, None) => {
                    let default = spec.secret_defaults.iter().find(|(f, _)| f == field).map(|(_, d)| self.secrets.seal(d));
                    v.insert(field.to_string(), default.map(Value::String).unwrap_or(Value::Null));
                }
            }
        }
        let stamp = serde_json::to_value(now()).unwrap_or_default();
        match existing {
            Some(old) => {
                for kept in ["created_at", "deleted_at"] {
                    if let Some(x) = old.get(kept) {
                        v.insert(kept.into(), x.clone());
                    }
                }
            }
            None if origin == Origin::Import => {
                for stamped in ["created_at", "updated_at"] {
                    if v.get(stamped).is_none_or(Value::is_null) {
                        v.insert(stamped.into(), stamp.clone());
                    }
                }
                v.entry("deleted_at").or_insert(Value::Null);
            }
            None => {
                v.insert("created_at".into(), stamp.clone());
                v.insert("deleted_at".into(), Value::Null);
            }
        }
        if origin == Origin::Client {
            v.insert("updated_at".into(), stamp);
        }
        match spec.id {
            IdKind::Uuid | IdKind::Hex32 if v.get("id").and_then(Value::as_str).is_none_or(str::is_empty) => {
                let id = uuid::Uuid::new_v4();
                let id = if spec.id == IdKind::Uuid { id.to_string() } else { id.simple().to_string() };
                v.insert("id".into(), Value::String(id));
            }
            IdKind::Auto if existing.is_none() && (origin == Origin::Client || v.get("id").and_then(Value::as_i64).unwrap_or(0) <= 0) => {
                v.insert("id".into(), Value::from(0));
            }
            _ => {}
        }
        check_lengths::<T>(&v)?;
        check_nul::<T>(&v)?;
        if self.db.get_database_backend() == sea_orm::DbBackend::MySql {
            check_mysql_range::<T>(&v)?;
        }
        // Fields that the entity lacks (`updated_at` on most tables) are ignored by serde;
        // fields it needs and the model lacks fail here with their name.
        serde_path_to_error::deserialize(Value::Object(v)).map_err(|e| {
            let field = e.path().to_string();
            let e = e.into_inner();
            if field == "." {
                bad_request(format!("invalid {}: {e}", spec.noun))
            } else {
                bad_request(format!("invalid {}: field `{field}`: {e}", spec.noun))
            }
        })
    }

    /// A stored row as the model's JSON; secrets decrypted when `reveal`, else null.
    fn decode<T: Table>(&self, row: &T::Row, reveal: bool) -> Result<Value, BackendError> {
        self.decode_as::<T>(row, if reveal { Secret::Reveal } else { Secret::Hide })
    }

    /// A stored row as the model's JSON, its secrets as `secret` says.
    fn decode_as<T: Table>(&self, row: &T::Row, secret: Secret) -> Result<Value, BackendError> {
        let spec = &T::SPEC;
        let Value::Object(mut v) = serde_json::to_value(row).map_err(internal)? else {
            return Err(internal(format!("a row of `{}` is not an object", spec.table)));
        };
        for field in spec.json_text {
            if let Some(Value::String(text)) = v.get(*field) {
                let parsed = serde_json::from_str(text).unwrap_or(Value::Null);
                v.insert(field.to_string(), parsed);
            }
        }
        for field in spec.secrets {
            let plain = match (v.get(*field), secret) {
                (Some(Value::String(sealed)), Secret::Reveal) => Value::String(self.secrets.open(sealed).map_err(internal)?),
                (Some(stored), Secret::Sealed) => stored.clone(),
                _ => Value::Null,
            };
            v.insert(field.to_string(), plain);
        }
        (spec.from_row)(&mut v);
        Ok(Value::Object(v))
    }

    fn live<T: Table>(scope: Scope) -> Result<Condition, BackendError> {
        if !T::SPEC.trash {
            return Ok(match scope {
                Scope::Live => Condition::all(),
                Scope::Trash => Condition::all().add(Expr::value(false)),
            });
        }
        let col = column::<T>("deleted_at")?;
        Ok(Condition::all().add(match scope {
            Scope::Live => col.is_null(),
            Scope::Trash => col.is_not_null(),
        }))
    }

    async fn find_row<T: Table>(&self, key: &Value, scope: Scope) -> Result<Option<T::Row>, BackendError> {
        T::Entity::find().filter(key_condition::<T>(key)?).filter(Self::live::<T>(scope)?).one(&self.db).await.map_err(db_error)
    }

    /// Store a new row; answers it as stored.
    pub async fn insert<T: Table>(&self, row: Value, reveal: bool) -> Result<Value, BackendError> {
        let row = self.encode::<T>(row, None)?;
        let mut active: T::Active = row.clone().into_active_model();
        if T::SPEC.id == IdKind::Auto {
            for col in primary_columns::<T>() {
                active.not_set(col);
            }
        }
        // Marks every given field as changed, so that the insert writes them all.
        let active = active.reset_all();
        let stored = match active.insert(&self.db).await {
            Ok(stored) => stored,
            Err(e) => return Err(self.write_failed::<T>(e, &row, Write::Insert).await),
        };
        self.decode::<T>(&stored, reveal)
    }

    /// Replace a live row's fields (matched by key).
    pub async fn update<T: Table>(&self, row: Value) -> Result<Value, BackendError> {
        let Value::Object(fields) = &row else {
            return Err(bad_request(format!("a {} must be a JSON object", T::SPEC.noun)));
        };
        let mut probe = fields.clone();
        (T::SPEC.to_row)(&mut probe).map_err(bad_request)?;
        let key = key_of::<T>(&probe);
        let Some(existing) = self.find_row::<T>(&key, Scope::Live).await? else {
            return Err(not_found(&T::SPEC, &key));
        };
        let Value::Object(old) = serde_json::to_value(&existing).map_err(internal)? else {
            return Err(internal("a stored row is not an object"));
        };
        let row = self.encode::<T>(row, Some(&old))?;
        let active: T::Active = row.clone().into_active_model();
        let stored = match active.reset_all().update(&self.db).await {
            Ok(stored) => stored,
            Err(e) => return Err(self.write_failed::<T>(e, &row, Write::Update).await),
        };
        self.decode::<T>(&stored, false)
    }

    /// Why a client's write failed: a duplicate names the fields it repeats (and says when
    /// the other row is in the trash), a missing reference names its field. The database's
    /// own text stays in the log; when the rows cannot be looked up, [`write_error`]'s
    /// general message.
    async fn write_failed<T: Table>(&self, e: DbErr, row: &T::Row, write: Write) -> BackendError {
        let spec = &T::SPEC;
        let Ok(Value::Object(v)) = serde_json::to_value(row) else { return write_error(spec, e) };
        let explained = match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => self.duplicate::<T>(&v, write).await,
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => self.missing_reference(spec, &v).await,
            _ => None,
        };
        explained.unwrap_or_else(|| write_error(spec, e))
    }

    /// The conflict a row's key or unique fields make with a stored row (live or in the
    /// trash), if one is found.
    async fn duplicate<T: Table>(&self, v: &Map<String, Value>, write: Write) -> Option<BackendError> {
        let spec = &T::SPEC;
        let key = key_of::<T>(v);
        let trash = |other: &T::Row| {
            let trashed = spec.trash && serde_json::to_value(other).is_ok_and(|o| !o["deleted_at"].is_null());
            if trashed {
                " (it is in the trash: restore it, or remove it from the trash first)"
            } else {
                ""
            }
        };
        let conflict = |message: String| Some(BackendError::new(BackendErrorKind::Conflict, message));
        // An update names its row by key, so only an insert can repeat one; a key the
        // database makes (users' ids) never collides.
        if write == Write::Insert && spec.id != IdKind::Auto {
            if let Ok(Some(other)) = T::Entity::find().filter(key_condition::<T>(&key).ok()?).one(&self.db).await {
                let cols: Vec<String> = primary_columns::<T>().iter().map(|c| format!("`{}`", c.as_str())).collect();
                let cols = cols.join(" and ");
                let advice = if spec.id == IdKind::Given {
                    format!("{cols} must be unique: change the existing one instead")
                } else {
                    format!("leave {cols} out to let the server choose one")
                };
                return conflict(format!("{} {} exists already{}; {advice}", spec.noun, show_key(&key), trash(&other)));
            }
        }
        'sets: for set in spec.unique {
            let mut same = Condition::all().add(key_condition::<T>(&key).ok()?.not());
            for name in *set {
                let col = column::<T>(name).ok()?;
                match v.get(*name) {
                    // NULLs are never equal in a unique index.
                    None | Some(Value::Null) => continue 'sets,
                    Some(value) => same = same.add(col.eq(sql_value(&col, value).ok()?)),
                }
            }
            if let Ok(Some(other)) = T::Entity::find().filter(same).one(&self.db).await {
                let fields: Vec<String> = set.iter().map(|c| format!("`{c}`")).collect();
                let last = set.last().copied().unwrap_or_default();
                return conflict(format!(
                    "another {} has the same {}{}; choose another `{last}`",
                    spec.noun,
                    fields.join(" and "),
                    trash(&other)
                ));
            }
        }
        None
    }

    /// The first reference of a row to a row that does not exist, named.
    async fn missing_reference(&self, spec: &Spec, v: &Map<String, Value>) -> Option<BackendError> {
        for (field, parent) in spec.references {
            let Some(key) = v.get(*field).filter(|k| !k.is_null()) else { continue };
            if !self.exists(*parent, key).await.ok()? {
                let noun = crate::with_table!(*parent, P => P::SPEC.noun);
                // Well-formed, so not a 400: what it names is not there.
                return Some(BackendError::new(BackendErrorKind::NotFound, format!("`{field}`: {noun} {} does not exist", show_key(key))));
            }
        }
        None
    }

    /// Whether `table` has a row with this key, live or in the trash.
    async fn exists(&self, table: TableName, key: &Value) -> Result<bool, BackendError> {
        crate::with_table!(table, P => {
            let found = <P as Table>::Entity::find().filter(key_condition::<P>(key)?).one(&self.db).await.map_err(db_error)?;
            Ok(found.is_some())
        })
    }

    /// Add `by` to the integer `column` of a live row in one statement and answer the new
    /// value. The read-back runs in the same transaction as the update, whose row lock
    /// keeps other increments out until the commit, so each caller sees its own sum.
    pub async fn increment<T: Table>(&self, key: &Value, column_name: &str, by: i64) -> Result<i64, BackendError> {
        let spec = &T::SPEC;
        let col = column::<T>(column_name)?;
        let not_counter = |why: &str| bad_request(format!("`{column_name}` of the {} {why}; only integer columns count", spec.noun));
        let (min, max) = match col.def().get_column_type() {
            ColumnType::BigInteger => (i64::MIN, i64::MAX),
            ColumnType::Integer => (i32::MIN.into(), i32::MAX.into()),
            ColumnType::SmallInteger => (i16::MIN.into(), i16::MAX.into()),
            ColumnType::TinyInteger => (i8::MIN.into(), i8::MAX.into()),
            _ => return Err(not_counter("is not an integer column")),
        };
        if col.def().is_null() {
            // NULL + by stays NULL: nothing would count.
            return Err(not_counter("may be empty (null)"));
        }
        if primary_columns::<T>().iter().any(|k| k.as_str() == col.as_str()) {
            return Err(not_counter("is its key"));
        }
        // Only rows whose sum fits the column are updated, so that an overflow is the
        // client's 400 on every database alike (SQLite would store it, the others fail).
        let fits = if by >= 0 { max.checked_sub(by).map(|m| col.lte(m)) } else { min.checked_sub(by).map(|m| col.gte(m)) };
        let cond = key_condition::<T>(key)?.add(Self::live::<T>(Scope::Live)?);
        let txn = self.db.begin().await.map_err(db_error)?;
        let mut update = T::Entity::update_many()
            .col_expr(col, sea_orm::sea_query::ExprTrait::add(Expr::col(col), by))
            .filter(cond.clone().add(fits.unwrap_or_else(|| Expr::value(false))));
        if let Ok(updated_at) = column::<T>("updated_at") {
            update = update.col_expr(updated_at, Expr::value(now()));
        }
        let affected = update.exec(&txn).await.map_err(db_error)?.rows_affected;
        let row = T::Entity::find().filter(cond).one(&txn).await.map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        let Some(row) = row else {
            return Err(not_found(spec, key));
        };
        let value = serde_json::to_value(&row).map_err(internal)?.get(col.as_str()).and_then(Value::as_i64);
        match (affected, value) {
            (0, _) => Err(bad_request(format!(
                "`{column_name}` of the {} {} would go beyond {} by adding {by}; it stays as it is",
                spec.noun,
                show_key(key),
                if by >= 0 { max } else { min }
            ))),
            (_, Some(value)) => Ok(value),
            (_, None) => Err(internal(format!("`{column_name}` of `{}` did not read back as an integer", spec.table))),
        }
    }

    /// Set some fields of a live row: the row is read and the fields laid over it, so
    /// that the whole is checked and encoded as an update would be (lengths, secrets
    /// sealed, JSON text), but only the columns named (and `updated_at`) are written.
    pub async fn patch<T: Table>(&self, key: &Value, fields: Map<String, Value>) -> Result<(), BackendError> {
        let spec = &T::SPEC;
        let Some(existing) = self.find_row::<T>(key, Scope::Live).await? else {
            return Err(not_found(spec, key));
        };
        let Value::Object(old) = serde_json::to_value(&existing).map_err(internal)? else {
            return Err(internal("a stored row is not an object"));
        };
        let Value::Object(mut model) = self.decode::<T>(&existing, false)? else {
            return Err(internal("a stored row is not an object"));
        };
        let keys = primary_columns::<T>();
        let mut columns = Vec::with_capacity(fields.len() + 1);
        for (field, value) in fields {
            let col = column::<T>(&field).map_err(|_| bad_request(format!("the {} has no field `{field}`", spec.noun)))?;
            if !model.contains_key(&field) || keys.iter().any(|k| k.as_str() == col.as_str()) {
                return Err(bad_request(format!("the field `{field}` of the {} cannot be set", spec.noun)));
            }
            model.insert(field, value);
            columns.push(col);
        }
        if let Ok(updated_at) = column::<T>("updated_at") {
            columns.push(updated_at);
        }
        let row = self.encode::<T>(Value::Object(model), Some(&old))?;
        let mut active: T::Active = row.into_active_model();
        for col in columns {
            active.reset(col);
        }
        active.update(&self.db).await.map_err(|e| match e {
            DbErr::RecordNotUpdated => not_found(spec, key),
            e => write_error(spec, e),
        })?;
        Ok(())
    }

    /// One live row.
    pub async fn get<T: Table>(&self, key: &Value, reveal: bool) -> Result<Option<Value>, BackendError> {
        self.get_in::<T>(key, Scope::Live, reveal).await
    }

    /// One row, live or in the trash.
    pub async fn get_in<T: Table>(&self, key: &Value, scope: Scope, reveal: bool) -> Result<Option<Value>, BackendError> {
        match self.find_row::<T>(key, scope).await? {
            Some(row) => Ok(Some(self.decode::<T>(&row, reveal)?)),
            None => Ok(None),
        }
    }

    /// Live rows matching a condition, in key order.
    pub async fn find<T: Table>(&self, cond: Condition, limit: Option<u64>, reveal: bool) -> Result<Vec<Value>, BackendError> {
        let mut q = T::Entity::find().filter(cond).filter(Self::live::<T>(Scope::Live)?);
        for col in primary_columns::<T>() {
            q = q.order_by_asc(col);
        }
        if let Some(n) = limit {
            q = q.limit(n);
        }
        let rows = q.all(&self.db).await.map_err(db_error)?;
        rows.iter().map(|r| self.decode::<T>(r, reveal)).collect()
    }

    /// Delete a live row: into the trash where the table has one, else for good.
    pub async fn delete<T: Table>(&self, key: &Value) -> Result<(), BackendError> {
        let cond = key_condition::<T>(key)?.add(Self::live::<T>(Scope::Live)?);
        let affected = if T::SPEC.trash {
            let col = column::<T>("deleted_at")?;
            T::Entity::update_many().col_expr(col, Expr::value(now())).filter(cond).exec(&self.db).await.map_err(db_error)?.rows_affected
        } else {
            T::Entity::delete_many().filter(cond).exec(&self.db).await.map_err(|e| write_error(&T::SPEC, e))?.rows_affected
        };
        if affected == 0 {
            return Err(not_found(&T::SPEC, key));
        }
        Ok(())
    }

    /// Take a row out of the trash.
    pub async fn restore<T: Table>(&self, key: &Value) -> Result<(), BackendError> {
        let col = column::<T>("deleted_at")?;
        let cond = key_condition::<T>(key)?.add(Self::live::<T>(Scope::Trash)?);
        let res = T::Entity::update_many()
            .col_expr(col, Expr::value(SqlValue::ChronoDateTimeUtc(None)))
            .filter(cond)
            .exec(&self.db)
            .await
            .map_err(|e| write_error(&T::SPEC, e))?;
        if res.rows_affected == 0 {
            return Err(BackendError::new(BackendErrorKind::NotFound, format!("no {} {} in the trash", T::SPEC.noun, show_key(key))));
        }
        Ok(())
    }

    /// Remove a row from the trash for good.
    pub async fn purge<T: Table>(&self, key: &Value) -> Result<(), BackendError> {
        let cond = key_condition::<T>(key)?.add(Self::live::<T>(Scope::Trash)?);
        let res = T::Entity::delete_many().filter(cond).exec(&self.db).await.map_err(|e| write_error(&T::SPEC, e))?;
        if res.rows_affected == 0 {
            return Err(BackendError::new(BackendErrorKind::NotFound, format!("no {} {} in the trash", T::SPEC.noun, show_key(key))));
        }
        Ok(())
    }

    /// Every row, trashed ones included, in key order, secrets sealed: what an export
    /// writes. `conn` is the connection or a transaction (a consistent snapshot of every
    /// table).
    pub async fn all_rows<T: Table, C: ConnectionTrait>(&self, conn: &C) -> Result<Vec<Value>, BackendError> {
        let mut q = T::Entity::find();
        for col in primary_columns::<T>() {
            q = q.order_by_asc(col);
        }
        let rows = q.all(conn).await.map_err(db_error)?;
        rows.iter().map(|r| self.decode_as::<T>(r, Secret::Sealed)).collect()
    }

    /// Remove every row of the table, trash included; answers how many.
    pub async fn remove_all<T: Table, C: ConnectionTrait>(&self, conn: &C) -> Result<u64, BackendError> {
        Ok(T::Entity::delete_many().exec(conn).await.map_err(db_error)?.rows_affected)
    }

    /// Insert one row of an import through `conn` (the import's transaction). The row is
    /// the model's JSON with every field (see [`TableName::normalize_row`]); times and ids
    /// it gives are kept, secrets sealed with this site's key are stored as they are.
    ///
    /// [`TableName::normalize_row`]: daas_common::protocols::TableName::normalize_row
    pub async fn import_row<T: Table, C: ConnectionTrait>(&self, conn: &C, row: Value) -> Result<(), BackendError> {
        let row = self.encode_as::<T>(row, None, Origin::Import)?;
        let mut active: T::Active = row.into_active_model();
        if T::SPEC.id == IdKind::Auto {
            // No id given: the database assigns one, as on a client's insert.
            for col in primary_columns::<T>() {
                if matches!(active.get(col).into_value(), Some(SqlValue::BigInt(Some(0)) | SqlValue::Int(Some(0)))) {
                    active.not_set(col);
                }
            }
        }
        active.reset_all().insert(conn).await.map_err(|e| write_error(&T::SPEC, e))?;
        Ok(())
    }

    /// A page of rows matching `cond`, ordered by `sort` then key, after `cursor` (from
    /// the previous page).
    pub async fn page<T: Table>(
        &self,
        cond: Condition,
        scope: Scope,
        sort: &Sort,
        cursor: Option<&str>,
        limit: u64,
    ) -> Result<Page, BackendError> {
        let keys = primary_columns::<T>();
        let [key_col] = keys.as_slice() else {
            return Err(internal(format!("`{}` has a composite key; it cannot be paged", T::SPEC.table)));
        };
        let sort_col = column::<T>(&sort.column)?;
        let mut q = T::Entity::find().filter(cond).filter(Self::live::<T>(scope)?);
        if let Some(cursor) = cursor {
            let (after_sort, after_key) = decode_cursor(cursor, &sort.column)?;
            let s = sql_value(&sort_col, &after_sort).map_err(|_| bad_cursor())?;
            let k = sql_value(key_col, &after_key).map_err(|_| bad_cursor())?;
            let beyond = |c: &<T::Entity as EntityTrait>::Column, v: SqlValue| -> SimpleExpr {
                if sort.desc {
                    c.lt(v)
                } else {
                    c.gt(v)
                }
            };
            q = q.filter(
                Condition::any().add(beyond(&sort_col, s.clone())).add(Condition::all().add(sort_col.eq(s)).add(beyond(key_col, k))),
            );
        }
        let order = if sort.desc { sea_orm::Order::Desc } else { sea_orm::Order::Asc };
        q = q.order_by(sort_col, order.clone()).order_by(*key_col, order);
        let mut rows = q.limit(limit + 1).all(&self.db).await.map_err(db_error)?;
        let next = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            let last = serde_json::to_value(rows.last()).map_err(internal)?;
            Some(encode_cursor(&sort.column, &last[sort.column.as_str()], &last[key_col.as_str()]))
        } else {
            None
        };
        let rows = rows.iter().map(|r| self.decode::<T>(r, false)).collect::<Result<_, _>>()?;
        Ok(Page { rows, next })
    }
}

fn bad_cursor() -> BackendError {
    bad_request("the cursor is not one this listing handed out; start again without `cursor`")
}

fn encode_cursor(sort: &str, sort_value: &Value, key: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::json!([sort, sort_value, key]).to_string())
}

fn decode_cursor(cursor: &str, sort: &str) -> Result<(Value, Value), BackendError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
    match v {
        Value::Array(mut parts) if parts.len() == 3 && parts[0] == sort => {
            let key = parts.pop().unwrap_or_default();
            let value = parts.pop().unwrap_or_default();
            Ok((value, key))
        }
        _ => Err(bad_request("the cursor belongs to a listing with another sort order; start again without `cursor`")),
    }
}
