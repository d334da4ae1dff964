//! The typed client of the db backend: the seed's repositories as methods, so that a
//! plugin never writes a raw [`DbRequest`].
//!
//! ```ignore
//! let db = DbClient::host();
//! let app = db.get::<DaasObject>("app-1").await?;
//! let inst = db.instance_by_connection(&con.id).await?;
//! ```

use std::collections::HashMap;

use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    futures::future::BoxFuture,
    sdk::BackendClient,
};
use serde::Serialize;

use super::db::{Db, DbRequest, DbResponse, Filter, Row, TableName};
use crate::model::*;

/// The database's kind and migration state ([`DbClient::status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbStatus {
    /// `sqlite`, `mariadb` or `postgres`.
    pub db_type: String,
    /// Applied migrations, oldest first.
    pub applied: Vec<String>,
    /// Migrations not applied yet.
    pub pending: Vec<String>,
}

/// What an import did ([`DbClient::import`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows removed from each table by `drop_all`.
    pub removed: HashMap<TableName, u64>,
    /// Rows inserted into each table.
    pub inserted: HashMap<TableName, u64>,
}

/// A handle on the db backend. Cheap to clone.
#[derive(Clone)]
pub struct DbClient(BackendClient<Db>);

fn decode<R: Row>(row: serde_json::Value) -> Result<R, BackendError> {
    serde_json::from_value(row).map_err(|e| {
        BackendError::new(
            BackendErrorKind::Internal,
            format!("a row of `{}` could not be decoded: {e}; is the db plugin of the same build?", R::TABLE),
        )
    })
}

fn encode<R: Row>(row: &R) -> Result<serde_json::Value, BackendError> {
    serde_json::to_value(row)
        .map_err(|e| BackendError::new(BackendErrorKind::BadRequest, format!("a row of `{}` could not be encoded: {e}", R::TABLE)))
}

impl DbClient {
    /// The db backend through the host (inside a plugin).
    pub fn host() -> DbClient {
        DbClient(BackendClient::host())
    }

    /// Any other transport: the db plugin's own tests and tools call its store directly.
    pub fn from_fn(f: impl Fn(DbRequest) -> BoxFuture<'static, Result<DbResponse, BackendError>> + Send + Sync + 'static) -> DbClient {
        DbClient(BackendClient::from_fn(f))
    }

    /// Send one raw request.
    pub async fn request(&self, request: DbRequest) -> Result<DbResponse, BackendError> {
        self.0.request(request).await
    }

    // ---- the database as a whole: `daas db`, `daas import`, `daas export` -------------

    /// The database's kind and its applied and pending migrations.
    pub async fn status(&self) -> Result<DbStatus, BackendError> {
        self.0
            .expect(DbRequest::Status, |answer| match answer {
                DbResponse::Status { db_type, applied, pending } => Ok(DbStatus { db_type, applied, pending }),
                other => Err(other),
            })
            .await
    }

    /// Apply the pending migrations; answers their names (empty: none was pending).
    pub async fn migrate(&self) -> Result<Vec<String>, BackendError> {
        self.0
            .expect(DbRequest::Migrate, |answer| match answer {
                DbResponse::Migrated { applied } => Ok(applied),
                other => Err(other),
            })
            .await
    }

    /// Every row of every table, trashed ones included, secrets sealed.
    pub async fn export(&self) -> Result<HashMap<TableName, Vec<serde_json::Value>>, BackendError> {
        self.0
            .expect(DbRequest::Export, |answer| match answer {
                DbResponse::Tables { tables } => Ok(tables),
                other => Err(other),
            })
            .await
    }

    /// Insert rows in one transaction (all or nothing), after emptying every table when
    /// `drop_all`.
    pub async fn import(&self, tables: HashMap<TableName, Vec<serde_json::Value>>, drop_all: bool) -> Result<ImportReport, BackendError> {
        self.0
            .expect(DbRequest::Import { tables, drop_all }, |answer| match answer {
                DbResponse::Imported { removed, inserted } => Ok(ImportReport { removed, inserted }),
                other => Err(other),
            })
            .await
    }

    // ---- generic operations on any table ---------------------------------------------

    /// Store a new row; answers it as stored (generated id, timestamps).
    pub async fn insert<R: Row>(&self, row: &R) -> Result<R, BackendError> {
        self.0
            .expect(DbRequest::Insert { table: R::TABLE, row: encode(row)? }, |answer| match answer {
                DbResponse::Row { row: Some(row) } => Ok(decode(row)),
                other => Err(other),
            })
            .await?
    }

    /// Replace a row (matched by key); secrets given as none are kept.
    pub async fn update<R: Row>(&self, row: &R) -> Result<(), BackendError> {
        self.0
            .expect(DbRequest::Update { table: R::TABLE, row: encode(row)? }, |answer| match answer {
                DbResponse::Done => Ok(()),
                other => Err(other),
            })
            .await
    }

    /// Set only these fields of the row with this key (a JSON object, fields named as in
    /// the model), leaving every other field as the database has it, so that a change
    /// made meanwhile by someone else to another field is never undone (as
    /// [`DbClient::update`] of a row read earlier would). `NotFound` when there is no such
    /// row, `BadRequest` for an unknown field or a bad value.
    pub async fn patch<R: Row>(&self, key: impl Serialize, fields: serde_json::Value) -> Result<(), BackendError> {
        let key = serde_json::to_value(key).unwrap_or_default();
        let serde_json::Value::Object(fields) = fields else {
            return Err(BackendError::new(daas_plugin_api::abi::BackendErrorKind::BadRequest, "a patch is a JSON object of fields"));
        };
        self.0
            .expect(DbRequest::Patch { table: R::TABLE, key, fields }, |answer| match answer {
                DbResponse::Done => Ok(()),
                other => Err(other),
            })
            .await
    }

    /// Add `by` to the integer `column` of the row with this key in one statement, so
    /// that concurrent increments never overwrite each other (a login-failure counter);
    /// answers the new value. `NotFound` when there is no such row, `BadRequest` when the
    /// column is not an integer column of the table.
    pub async fn increment<R: Row>(&self, key: impl Serialize, column: &str, by: i64) -> Result<i64, BackendError> {
        let key = serde_json::to_value(key).unwrap_or_default();
        self.0
            .expect(DbRequest::Increment { table: R::TABLE, key, column: column.into(), by }, |answer| match answer {
                DbResponse::Counter { value } => Ok(value),
                other => Err(other),
            })
            .await
    }

    /// One row by key.
    pub async fn get<R: Row>(&self, key: impl Serialize) -> Result<Option<R>, BackendError> {
        let key = serde_json::to_value(key).unwrap_or_default();
        self.0
            .expect(DbRequest::Get { table: R::TABLE, key }, |answer| match answer {
                DbResponse::Row { row } => Ok(row.map(decode).transpose()),
                other => Err(other),
            })
            .await?
    }

    /// Rows where every filter holds.
    pub async fn find<R: Row>(&self, filters: Vec<Filter>) -> Result<Vec<R>, BackendError> {
        self.find_limit(filters, None).await
    }

    /// The first row where every filter holds.
    pub async fn find_one<R: Row>(&self, filters: Vec<Filter>) -> Result<Option<R>, BackendError> {
        Ok(self.find_limit(filters, Some(1)).await?.into_iter().next())
    }

    async fn find_limit<R: Row>(&self, filters: Vec<Filter>, limit: Option<u64>) -> Result<Vec<R>, BackendError> {
        self.0
            .expect(DbRequest::Find { table: R::TABLE, filters, limit }, |answer| match answer {
                DbResponse::Rows { rows } => Ok(rows.into_iter().map(decode).collect()),
                other => Err(other),
            })
            .await?
    }

    /// Delete a row by key (into the trash where the table has one).
    pub async fn delete<R: Row>(&self, key: impl Serialize) -> Result<(), BackendError> {
        let key = serde_json::to_value(key).unwrap_or_default();
        self.0
            .expect(DbRequest::Delete { table: R::TABLE, key }, |answer| match answer {
                DbResponse::Done => Ok(()),
                other => Err(other),
            })
            .await
    }

    // ---- ObjectRepository --------------------------------------------------------------

    /// get_daas_object_by_docker_id.
    pub async fn object_by_docker_id(&self, id_docker: &str) -> Result<Option<DaasObject>, BackendError> {
        self.find_one(vec![Filter::eq("id_docker", id_docker)]).await
    }

    /// get_daas_object_by_proxmox_id.
    pub async fn object_by_proxmox_id(&self, id_proxmox: i64) -> Result<Option<DaasObject>, BackendError> {
        self.find_one(vec![Filter::eq("id_proxmox", id_proxmox)]).await
    }

    /// get_daas_objects_by_owner.
    pub async fn objects_by_owner(&self, id_owner: i64) -> Result<Vec<DaasObject>, BackendError> {
        self.find(vec![Filter::eq("id_owner", id_owner)]).await
    }

    /// get_daas_objects_available: the owner's objects and the shared ones (owner 0).
    pub async fn objects_available(&self, id_owner: i64) -> Result<Vec<DaasObject>, BackendError> {
        self.find(vec![Filter::any_of("id_owner", [id_owner, 0])]).await
    }

    /// suggest_vmid: a free Proxmox VM id in 100..=254.
    pub async fn suggest_vmid(&self) -> Result<i64, BackendError> {
        self.0
            .expect(DbRequest::SuggestVmid, |answer| match answer {
                DbResponse::Vmid { vmid } => Ok(vmid),
                other => Err(other),
            })
            .await
    }

    // ---- EnvironmentRepository ---------------------------------------------------------

    /// get_environments_by_object.
    pub async fn environments_by_object(&self, id_object: &str) -> Result<Vec<Environment>, BackendError> {
        self.find(vec![Filter::eq("id_object", id_object)]).await
    }

    /// get_environment_by_name.
    pub async fn environment_by_name(&self, id_object: &str, name: &str) -> Result<Option<Environment>, BackendError> {
        self.find_one(vec![Filter::eq("id_object", id_object), Filter::eq("name", name)]).await
    }

    /// get_environment_by_backend_id.
    pub async fn environment_by_backend_id(&self, id_backend: &str) -> Result<Option<Environment>, BackendError> {
        self.find_one(vec![Filter::eq("id_backend", id_backend)]).await
    }

    // ---- InstanceRepository ------------------------------------------------------------

    /// get_instance_by_objid.
    pub async fn instance_by_object(&self, id_app: &str) -> Result<Option<Instance>, BackendError> {
        self.find_one(vec![Filter::eq("id_app", id_app)]).await
    }

    /// get_instance_by_envid.
    pub async fn instance_by_environment(&self, id_env: &str) -> Result<Option<Instance>, BackendError> {
        self.find_one(vec![Filter::eq("id_env", id_env)]).await
    }

    /// get_instance_by_conid.
    pub async fn instance_by_connection(&self, id_con: &str) -> Result<Option<Instance>, BackendError> {
        self.find_one(vec![Filter::eq("id_con", id_con)]).await
    }

    /// get_instance_by_adr.
    pub async fn instance_by_address(&self, host: &str) -> Result<Option<Instance>, BackendError> {
        self.find_one(vec![Filter::eq("host", host)]).await
    }

    /// get_instances_by_owner.
    pub async fn instances_by_owner(&self, id_owner: i64) -> Result<Vec<Instance>, BackendError> {
        self.find(vec![Filter::eq("id_owner", id_owner)]).await
    }

    /// get_instances_available: the owner's instances and the shared ones.
    pub async fn instances_available(&self, id_owner: i64) -> Result<Vec<Instance>, BackendError> {
        self.find(vec![Filter::any_of("id_owner", [id_owner, 0])]).await
    }

    // ---- ConnectionRepository ----------------------------------------------------------

    /// get_guacamole_connection_by_token (without the password).
    pub async fn connection_by_viewer_token(&self, token: &str) -> Result<Option<GuacamoleConnection>, BackendError> {
        if token.is_empty() {
            return Ok(None);
        }
        self.find_one(vec![Filter::eq("viewer_token", token)]).await
    }

    /// The connection with its password: the proxy's call, nobody else's.
    pub async fn connection_with_secret(&self, id: &str) -> Result<Option<GuacamoleConnection>, BackendError> {
        self.0
            .expect(DbRequest::ConnectionWithSecret { id: id.into() }, |answer| match answer {
                DbResponse::Row { row } => Ok(row.map(decode).transpose()),
                other => Err(other),
            })
            .await?
    }

    // ---- FileRepository, ApplicationRepository, LimitRepository ------------------------

    /// get_user_files / get_user_applications / get_user_*: the owner's rows.
    pub async fn owned_by<R: Row>(&self, id_owner: i64) -> Result<Vec<R>, BackendError> {
        self.find(vec![Filter::eq("id_owner", id_owner)]).await
    }

    /// get_all_files / get_all_applications: the owner's rows and the shared ones.
    pub async fn available_to<R: Row>(&self, id_owner: i64) -> Result<Vec<R>, BackendError> {
        self.find(vec![Filter::any_of("id_owner", [id_owner, 0])]).await
    }

    /// get_limit: the owner's limits, else the global ones (owner -1).
    pub async fn limit_for(&self, id_owner: i64) -> Result<Option<RessourceInfo>, BackendError> {
        match self.get::<RessourceInfo>(id_owner).await? {
            Some(own) => Ok(Some(own)),
            None => self.get::<RessourceInfo>(-1).await,
        }
    }

    // ---- users, groups, privileges, tokens -----------------------------------------------

    /// A user by login name.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>, BackendError> {
        self.find_one(vec![Filter::eq("name", name)]).await
    }

    /// The groups a user belongs to.
    pub async fn groups_of(&self, id_user: i64) -> Result<Vec<Group>, BackendError> {
        let memberships: Vec<Membership> = self.find(vec![Filter::eq("id_user", id_user)]).await?;
        if memberships.is_empty() {
            return Ok(Vec::new());
        }
        self.find(vec![Filter::any_of("id", memberships.iter().map(|m| m.id_group))]).await
    }

    /// A user's or group's privilege entries.
    pub async fn privileges_of(&self, kind: SubjectKind, id: i64) -> Result<Vec<Privilege>, BackendError> {
        self.find(vec![Filter::eq("subject_kind", kind), Filter::eq("subject_id", id)]).await
    }

    /// The grants of a user.
    pub async fn grants_of(&self, id_user: i64) -> Result<Vec<AccessGrant>, BackendError> {
        self.find(vec![Filter::eq("id_user", id_user)]).await
    }
}
