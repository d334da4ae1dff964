//! The logic of every resource route, written once: who may see and change which rows,
//! listing with filters, sort and cursor, creating from a `NewX` body over the defaults
//! and changing only the fields of an `XPatch` body.

use daas_common::protocols::Row;
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    identity::{Identity, GLOBAL_OWNER, SHARED_OWNER},
    poem_openapi::{
        payload::Json,
        types::{ParseFromJSON, ToJSON, Type},
        Object,
    },
    sdk::{Created, Done, Failure},
};
use sea_orm::{sea_query::Query, ColumnTrait, Condition};
use serde_json::{Map, Value};

use crate::{
    entity::daas_object,
    table::{filter_condition, IdKind, Scope, Sort, Table},
    tables::Objects,
    Store,
};

/// Who may see and change a resource's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Rows carry `id_owner`: visible to the owner, to everyone when shared (0) or global
    /// (-1), changed by the owner; with `admin_write` only admins change them (limits).
    Owned {
        /// Only admins create, change and delete.
        admin_write: bool,
    },
    /// Rows carry `id_user`: visible to that user; only admins change them (grants).
    UserOwned,
    /// Rows belong to the object in `id_object` and follow its rules (environments).
    ViaObject,
    /// Only admins see or change them (nodes).
    AdminOnly,
}

/// A resource of the REST API.
pub trait Resource: Send + Sync + 'static {
    /// Its table.
    type T: Table;
    /// Its model: what the API answers (`X`).
    type Model: Row + Clone + Default + ParseFromJSON + ToJSON + Type;
    /// The create body (`NewX`).
    type New: Body;
    /// The update body (`XPatch`).
    type Patch: Body;
    /// Its ownership rule.
    const POLICY: Policy;
    /// Columns `filter=column:value` accepts.
    const FILTERS: &'static [&'static str];
    /// Columns `sort=[-]column` accepts; the first is the default (descending).
    const SORTS: &'static [&'static str];
    /// Checks a new or changed row beyond its types; the message is the client's.
    fn validate(_model: &Self::Model) -> Result<(), String> {
        Ok(())
    }
    /// Owned rows this row refers to (e.g. an application's file and template): each must
    /// be one the caller may see, so that nobody builds on another user's private rows.
    fn references(_model: &Self::Model) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A request body: the fields the client gave, as JSON.
pub trait Body: ParseFromJSON + ToJSON + Type + Send + Sync + 'static {
    /// The given fields (`null` only where it clears a nullable field).
    fn given(&self) -> Map<String, Value>;
}

macro_rules! bodies {
    ($($ty:ty),*) => {$(
        impl Body for $ty {
            fn given(&self) -> Map<String, Value> {
                <$ty>::given(self)
            }
        }
    )*};
}
use daas_common::model::*;
bodies!(
    NewDaasObject,
    DaasObjectPatch,
    NewEnvironment,
    EnvironmentPatch,
    NewApplication,
    ApplicationPatch,
    NewFile,
    FilePatch,
    NewRessourceInfo,
    RessourceInfoPatch,
    NewAccessGrant,
    AccessGrantPatch,
    NewNode,
    NodePatch
);

/// 404 unless every row the model refers to exists and the caller may see it (a row
/// they may not see is reported as missing, as everywhere). Not a 400: the body is
/// well-formed (its schema cannot say which rows exist); what it names is not found.
async fn check_references<R: Resource>(store: &Store, who: &Identity, model: &R::Model) -> Result<(), Failure> {
    use daas_common::protocols::TableName;
    for (field, id) in R::references(model) {
        let key = Value::String(id.clone());
        let row = match field {
            "id_file" => store.tables.get::<crate::tables::Files>(&key, false).await?,
            _ => store.tables.get::<Objects>(&key, false).await?,
        };
        let table = if field == "id_file" { TableName::Files } else { TableName::DaasObjects };
        let seen = row.and_then(|r| r["id_owner"].as_i64()).is_some_and(|owner| who.can_see(owner));
        if !seen {
            return Err(Failure::not_found(format!(
                "`{field}`: {} `{id}` does not exist",
                if table == TableName::Files { "file" } else { "object" }
            )));
        }
    }
    Ok(())
}

fn not_found(noun: &str, key: &Value) -> Failure {
    let key = key.as_str().map(str::to_string).unwrap_or_else(|| key.to_string());
    Failure::not_found(format!("{noun} `{key}` does not exist"))
}

/// A page of a listing.
#[derive(Object, Debug)]
pub struct Page<M: ParseFromJSON + ToJSON> {
    /// The rows of this page.
    pub items: Vec<M>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The query of a listing.
pub struct ListQuery {
    /// At most this many rows.
    pub limit: Option<u64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// `column` or `-column` (descending).
    pub sort: Option<String>,
    /// `column:value`, all of which must hold (empty ones are ignored).
    pub filter: Vec<String>,
}

fn owner_column<R: Resource>() -> &'static str {
    match R::POLICY {
        Policy::UserOwned => "id_user",
        _ => "id_owner",
    }
}

/// Rows the caller may see (none: every row).
fn visible<R: Resource>(who: &Identity) -> Result<Option<Condition>, Failure> {
    if who.admin {
        return Ok(None);
    }
    let col =
        |name: &str| filter_condition::<R::T>(&[daas_common::protocols::Filter::any_of(name, [who.user_id, SHARED_OWNER, GLOBAL_OWNER])]);
    Ok(Some(match R::POLICY {
        Policy::Owned { .. } => col("id_owner")?,
        Policy::UserOwned => filter_condition::<R::T>(&[daas_common::protocols::Filter::eq("id_user", who.user_id)])?,
        Policy::ViaObject => {
            let objects = Query::select()
                .column(daas_object::Column::Id)
                .from(daas_object::Entity)
                .and_where(daas_object::Column::IdOwner.is_in([who.user_id, SHARED_OWNER]))
                .and_where(daas_object::Column::DeletedAt.is_null())
                .to_owned();
            let id_object = crate::table::column::<R::T>("id_object")?;
            Condition::all().add(id_object.in_subquery(objects))
        }
        Policy::AdminOnly => return Err(Failure::forbidden("only administrators manage this")),
    }))
}

/// The owner a row counts as, for the ownership rules.
async fn owner_of<R: Resource>(store: &Store, row: &Value) -> Result<Option<i64>, Failure> {
    Ok(match R::POLICY {
        Policy::ViaObject => {
            let id = row.get("id_object").cloned().unwrap_or_default();
            store.tables.get::<Objects>(&id, false).await?.and_then(|o| o["id_owner"].as_i64())
        }
        _ => row.get(owner_column::<R>()).and_then(Value::as_i64),
    })
}

/// The row if the caller may see it; 404 otherwise.
async fn visible_row<R: Resource>(store: &Store, who: &Identity, key: &Value, scope: Scope) -> Result<Value, Failure> {
    let noun = R::T::SPEC.noun;
    if R::POLICY == Policy::AdminOnly && !who.admin {
        return Err(Failure::forbidden("only administrators manage this"));
    }
    let row = store.tables.get_in::<R::T>(key, scope, false).await?.ok_or_else(|| not_found(noun, key))?;
    let seen = who.admin || owner_of::<R>(store, &row).await?.is_some_and(|owner| who.can_see(owner));
    if seen {
        Ok(row)
    } else {
        Err(not_found(noun, key))
    }
}

/// Only administrators create, change and delete these rows.
fn admin_only<R: Resource>() -> bool {
    matches!(R::POLICY, Policy::Owned { admin_write: true } | Policy::UserOwned | Policy::AdminOnly)
}

/// 403 unless the caller may change a row with this owner.
fn may_change<R: Resource>(who: &Identity, owner: Option<i64>) -> Result<(), Failure> {
    let noun = R::T::SPEC.noun;
    if who.admin {
        return Ok(());
    }
    if admin_only::<R>() {
        return Err(Failure::forbidden(format!("only administrators change {noun}s")));
    }
    match owner {
        Some(owner) if who.can_change(owner) => Ok(()),
        _ => Err(Failure::forbidden(format!("this {noun} is not yours: shared {noun}s are changed by administrators"))),
    }
}

fn to_json<M: Row>(model: &M) -> Result<Value, Failure> {
    serde_json::to_value(model).map_err(|e| Failure::bad(format!("invalid body: {e}")))
}

fn from_json<M: Row>(row: Value) -> Result<M, Failure> {
    serde_json::from_value(row).map_err(|e| Failure::internal("a row could not be read", e))
}

/// `over` with the fields of `given` laid over it.
fn overlay(mut over: Value, given: Map<String, Value>) -> Value {
    if let Value::Object(fields) = &mut over {
        fields.extend(given);
    }
    over
}

/// A listing's parameters passed the schema, which cannot say which cursors and filter
/// values a listing takes: the store's refusal of one (a cursor it did not hand out, a
/// number column given a word) is a 422.
fn unprocessable_if_bad(e: BackendError) -> Failure {
    if e.kind == BackendErrorKind::BadRequest {
        Failure::unprocessable(e.message.to_string())
    } else {
        Failure::from(e)
    }
}

/// A page of the rows the caller may see.
pub async fn list<R: Resource>(store: &Store, who: &Identity, q: ListQuery, scope: Scope) -> Result<Json<Page<R::Model>>, Failure> {
    let mut cond = visible::<R>(who)?.unwrap_or_else(Condition::all);
    let mut filters = Vec::new();
    // (`String::is_empty`: poem-openapi's `Type::is_empty` is in scope and says false.)
    for f in q.filter.iter().filter(|f| !String::is_empty(f)) {
        let Some((column, value)) = f.split_once(':') else {
            return Err(Failure::unprocessable(format!("filter `{f}` is not `column:value`")));
        };
        if !R::FILTERS.contains(&column) {
            return Err(Failure::unprocessable(format!("cannot filter by `{column}`; the filters are {}", R::FILTERS.join(", "))));
        }
        filters.push(daas_common::protocols::Filter::eq(column, value));
    }
    cond = cond.add(filter_condition::<R::T>(&filters).map_err(unprocessable_if_bad)?);
    let sort = match q.sort.as_deref() {
        None | Some("") => Sort { column: R::SORTS[0].into(), desc: true },
        Some(s) => {
            let (column, desc) = match s.strip_prefix('-') {
                Some(c) => (c, true),
                None => (s, false),
            };
            if !R::SORTS.contains(&column) {
                return Err(Failure::bad(format!("cannot sort by `{column}`; the sorts are {}", R::SORTS.join(", "))));
            }
            Sort { column: column.into(), desc }
        }
    };
    let limit = q.limit.unwrap_or(50);
    let page = store.tables.page::<R::T>(cond, scope, &sort, q.cursor.as_deref(), limit).await.map_err(unprocessable_if_bad)?;
    let items = page.rows.into_iter().map(from_json).collect::<Result<_, _>>()?;
    Ok(Json(Page { items, next_cursor: page.next }))
}

/// One row the caller may see.
pub async fn get<R: Resource>(store: &Store, who: &Identity, key: Value) -> Result<Json<R::Model>, Failure> {
    from_json(visible_row::<R>(store, who, &key, Scope::Live).await?).map(Json)
}

/// The model a body's fields laid over `base` make; a value the model cannot hold is
/// the client's 400.
fn model_of<R: Resource>(base: Value, given: Map<String, Value>) -> Result<R::Model, Failure> {
    serde_json::from_value(overlay(base, given)).map_err(|e| Failure::bad(format!("invalid {}: {e}", R::T::SPEC.noun)))
}

/// Create a row from the given fields over the model's defaults; a user's new rows are
/// theirs.
pub async fn create<R: Resource>(store: &Store, who: &Identity, body: R::New) -> Result<Created<R::Model>, Failure> {
    // Whether the caller may use the route at all comes before the body: a user is told
    // 403 for what only administrators do, not what the body refers to.
    if admin_only::<R>() {
        may_change::<R>(who, None)?;
    }
    let given = body.given();
    let model = model_of::<R>(to_json(&R::Model::default())?, given.clone())?;
    R::validate(&model).map_err(Failure::bad)?;
    check_references::<R>(store, who, &model).await?;
    let mut row = to_json(&model)?;
    let noun = R::T::SPEC.noun;
    // A user's new rows get ids the server makes: a conflict with an id a user chose
    // could only be explained by a row they may not see (another user's, or one in the
    // trash), so it would tell them that it exists. Administrators see every row.
    let generated = matches!(R::T::SPEC.id, IdKind::Uuid | IdKind::Hex32);
    if !who.admin && generated && row.get("id").and_then(Value::as_str).is_some_and(|id| !id.is_empty()) {
        return Err(Failure::bad(format!("`id`: the server chooses the ids of new {noun}s; leave `id` out, the answer carries it")));
    }
    let owner = match R::POLICY {
        Policy::ViaObject => {
            let id = row.get("id_object").cloned().unwrap_or_default();
            let object = store.tables.get::<Objects>(&id, false).await?;
            let owner = object.as_ref().and_then(|o| o["id_owner"].as_i64());
            if !owner.is_some_and(|o| who.can_see(o)) {
                let id = id.as_str().map(str::to_string).unwrap_or_else(|| id.to_string());
                return Err(Failure::not_found(format!("`id_object`: object `{id}` does not exist")));
            }
            owner
        }
        _ => {
            let col = owner_column::<R>();
            let owner = row.get(col).and_then(Value::as_i64).unwrap_or_default();
            if who.admin {
                // An administrator's row without an owner is shared (owner 0).
                Some(owner)
            } else if owner == SHARED_OWNER || owner == who.user_id {
                // A user creates for themselves: a left-out owner, and 0 (only
                // administrators share), both mean "mine".
                row[col] = Value::from(who.user_id);
                Some(who.user_id)
            } else {
                return Err(Failure::bad(format!(
                    "`{col}`: you create {noun}s for yourself; leave `{col}` out or give your own id ({}); only administrators \
                     create rows for others or shared ones",
                    who.user_id
                )));
            }
        }
    };
    may_change::<R>(who, owner)?;
    let stored = store.tables.insert::<R::T>(row, false).await?;
    Ok(Created::Created(Json(from_json(stored)?)))
}

/// Change the given fields of a row (the key comes from the path); the others, secrets
/// included, keep their values.
pub async fn update<R: Resource>(store: &Store, who: &Identity, key: Value, body: R::Patch) -> Result<Json<R::Model>, Failure> {
    // The row first: another user's row is 404 (and not theirs to change 403) whatever
    // the body says, so that a body cannot tell whether the row exists.
    let existing = visible_row::<R>(store, who, &key, Scope::Live).await?;
    let owner = owner_of::<R>(store, &existing).await?;
    may_change::<R>(who, owner)?;
    let given = body.given();
    // Only administrators give a row to another owner (or move an environment to
    // another object); giving the current one changes nothing.
    let col = if R::POLICY == Policy::ViaObject { "id_object" } else { owner_column::<R>() };
    if !who.admin && given.get(col).is_some_and(|v| Some(v) != existing.get(col)) {
        return Err(Failure::bad(format!(
            "`{col}`: only administrators change the `{col}` of the {}; leave it out or give the current one",
            R::T::SPEC.noun
        )));
    }
    let model = model_of::<R>(existing, given)?;
    R::validate(&model).map_err(Failure::bad)?;
    check_references::<R>(store, who, &model).await?;
    let mut row = to_json(&model)?;
    // The path names the row.
    for (col, part) in key_columns::<R>().iter().zip(key_parts(&key)) {
        row[*col] = part;
    }
    let stored = store.tables.update::<R::T>(row).await?;
    from_json(stored).map(Json)
}

fn key_columns<R: Resource>() -> Vec<&'static str> {
    match R::T::SPEC.table {
        daas_common::protocols::TableName::Limits => vec!["id_owner"],
        _ => vec!["id"],
    }
}

fn key_parts(key: &Value) -> Vec<Value> {
    match key {
        Value::Array(parts) => parts.clone(),
        one => vec![one.clone()],
    }
}

/// Move a row to the trash.
pub async fn delete<R: Resource>(store: &Store, who: &Identity, key: Value) -> Result<Done, Failure> {
    let existing = visible_row::<R>(store, who, &key, Scope::Live).await?;
    may_change::<R>(who, owner_of::<R>(store, &existing).await?)?;
    store.tables.delete::<R::T>(&key).await?;
    Ok(Done::Done)
}

/// Take a row out of the trash.
pub async fn restore<R: Resource>(store: &Store, who: &Identity, key: Value) -> Result<Done, Failure> {
    let existing = visible_row::<R>(store, who, &key, Scope::Trash).await?;
    may_change::<R>(who, owner_of::<R>(store, &existing).await?)?;
    store.tables.restore::<R::T>(&key).await?;
    Ok(Done::Done)
}

/// Remove a row from the trash for good.
pub async fn purge<R: Resource>(store: &Store, who: &Identity, key: Value) -> Result<Done, Failure> {
    let existing = visible_row::<R>(store, who, &key, Scope::Trash).await?;
    may_change::<R>(who, owner_of::<R>(store, &existing).await?)?;
    store.tables.purge::<R::T>(&key).await?;
    Ok(Done::Done)
}
