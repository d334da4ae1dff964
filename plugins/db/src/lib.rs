//! # db: the original's schema on sea-orm
//!
//! The only plugin that talks SQL ("only the database module has to be touched").
//! Connects to SQLite (the embedded default, a file under the site's data path, WAL
//! mode), MariaDB or PostgreSQL as `db.toml` says, applies the migrations at start-up,
//! and offers the seed's repositories to the other plugins as the `db` backend
//! ([`daas_common::protocols::Db`], used through the typed
//! [`DbClient`](daas_common::protocols::DbClient)). Secrets are encrypted at rest
//! ([`secrets`]).
//!
//! Map: [`database`] connects and migrates; [`migration`] holds the schema history;
//! [`entity`] the sea-orm tables; [`table`] the one generic repository and [`tables`]
//! what is particular about each table; [`api`] the REST routes; [`samples`] the demo
//! rows of `[samples]`; [`transfer`] export and import of every table.

pub mod api;
pub mod database;
pub mod entity;
pub mod migration;
pub mod samples;
pub mod secrets;
pub mod table;
pub mod tables;
pub mod transfer;

use daas_common::{
    config::DbFile,
    protocols::{Db, DbClient, DbRequest, DbResponse, TableName},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    export_plugin,
    names::PluginName,
    poem_openapi::OpenApiService,
    sdk::{PluginBuilder, PluginContext},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;

/// The plugin's state: the connection and the repositories.
#[derive(Clone)]
pub struct Store {
    /// The configured database kind.
    pub db_type: String,
    /// The repositories.
    pub tables: table::Tables,
}

impl Store {
    /// Open the configured database (migrating it) and build the repositories.
    pub async fn open(file: &DbFile, site_dir: &std::path::Path) -> Result<Store, String> {
        let secrets = secrets::Secrets::from_config(&file.db.secret_key, file.db.allow_demo_key).map_err(|e| e.to_string())?;
        let db = database::open(&file.db, site_dir).await.map_err(|e| e.to_string())?;
        let db_type = if file.db.db_type.is_empty() { "sqlite".to_string() } else { file.db.db_type.clone() };
        Ok(Store { db_type, tables: table::Tables { db, secrets } })
    }

    /// A typed client that calls this store directly (tools and tests; plugins use
    /// [`DbClient::host`]). Requests go through JSON as they would across the boundary.
    pub fn client(&self) -> DbClient {
        let store = self.clone();
        DbClient::from_fn(move |request| {
            let store = store.clone();
            Box::pin(async move {
                let wire: DbRequest =
                    serde_json::from_value(serde_json::to_value(&request).map_err(table::internal)?).map_err(table::internal)?;
                store.handle(wire).await
            })
        })
    }

    /// Serve one backend request.
    pub async fn handle(&self, request: DbRequest) -> Result<DbResponse, BackendError> {
        let t = &self.tables;
        let reveal = |table: TableName| !with_table!(table, T => <T as table::Table>::SPEC.hidden_secrets);
        Ok(match request {
            DbRequest::Status => {
                let (applied, pending) = database::migration_status(&t.db).await.map_err(table::db_error)?;
                DbResponse::Status { db_type: self.db_type.clone(), applied, pending }
            }
            DbRequest::Insert { table, row } => {
                DbResponse::Row { row: Some(with_table!(table, T => t.insert::<T>(row, reveal(table)).await)?) }
            }
            DbRequest::Update { table, row } => with_table!(table, T => t.update::<T>(row).await).map(|_| DbResponse::Done)?,
            DbRequest::Get { table, key } => DbResponse::Row { row: with_table!(table, T => t.get::<T>(&key, reveal(table)).await)? },
            DbRequest::Find { table, filters, limit } => DbResponse::Rows {
                rows: with_table!(table, T => t.find::<T>(table::filter_condition::<T>(&filters)?, limit, reveal(table)).await)?,
            },
            DbRequest::Delete { table, key } => with_table!(table, T => t.delete::<T>(&key).await).map(|_| DbResponse::Done)?,
            DbRequest::Increment { table, key, column, by } => {
                DbResponse::Counter { value: with_table!(table, T => t.increment::<T>(&key, &column, by).await)? }
            }
            DbRequest::SuggestVmid => DbResponse::Vmid { vmid: self.suggest_vmid().await? },
            DbRequest::ConnectionWithSecret { id } => {
                DbResponse::Row { row: t.get::<tables::Connections>(&Value::String(id), true).await? }
            }
            DbRequest::Migrate => DbResponse::Migrated { applied: database::migrate(&t.db).await.map_err(table::db_error)? },
            DbRequest::Export => DbResponse::Tables { tables: transfer::export(t).await? },
            DbRequest::Import { tables, drop_all } => {
                let (removed, inserted) = transfer::import(t, tables, drop_all).await?;
                DbResponse::Imported { removed, inserted }
            }
            DbRequest::Patch { table, key, fields } => {
                with_table!(table, T => t.patch::<T>(&key, fields).await)?;
                DbResponse::Done
            }
        })
    }

    /// The lowest Proxmox VM id in 100..=254 that no object uses, trashed ones included
    /// (their VMs may still exist). The seed took max + 1 and gave up at 254; taking the
    /// lowest free id reuses the gaps that deleted objects leave.
    pub async fn suggest_vmid(&self) -> Result<i64, BackendError> {
        use entity::daas_object::{Column, Entity};
        let used: Vec<i64> = Entity::find()
            .select_only()
            .column(Column::IdProxmox)
            .filter(Column::IdProxmox.between(100, 254))
            .into_tuple()
            .all(&self.tables.db)
            .await
            .map_err(table::db_error)?;
        (100..=254)
            .find(|id| !used.contains(id))
            .ok_or_else(|| BackendError::new(BackendErrorKind::Conflict, "every Proxmox VM id in 100..=254 is taken"))
    }
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let file: DbFile = ctx.config()?;
    let store = Store::open(&file, &ctx.site_dir).await?;
    prepare(&store, &file).await?;
    let backend_store = store.clone();
    Ok(PluginBuilder::new()
        .api(
            OpenApiService::new(api::service(store.clone()), "db", env!("CARGO_PKG_VERSION"))
                .description("The database: objects, environments, applications, files, limits, grants, nodes, with a trash."),
        )
        .requires(api::permissions().iter().map(|(op, rule)| (op.as_str(), rule.clone())))
        .backend::<Db, _, _>(move |request| {
            let store = backend_store.clone();
            async move { store.handle(request).await }
        })
        .on_stop(move || async move {
            let _ = store.tables.db.close_by_ref().await;
        }))
}

/// What a start does to the data before serving: the administrator of
/// `admin_credentials`, then the samples of `[samples]` (theirs, or shared without one).
pub async fn prepare(store: &Store, file: &DbFile) -> Result<(), String> {
    let admin = match &file.db.admin_credentials {
        Some(credentials) => Some(bootstrap_admin(store, credentials).await?),
        None => None,
    };
    if file.db.include_samples {
        let owner = admin.filter(|user| user.admin).map(|user| user.id);
        samples::load(store, &file.samples, owner).await.map_err(|e| format!("loading the samples of [samples] failed: {e}"))?;
    }
    Ok(())
}

/// Create the administrator of `admin_credentials = "user:password"` unless a user of
/// that name exists (a changed password is never reset by a restart); answers that user.
pub async fn bootstrap_admin(store: &Store, credentials: &str) -> Result<daas_common::model::User, String> {
    let Some((name, password)) = daas_common::password::split_credentials(credentials) else {
        return Err("[db] admin_credentials must be `user:password` with neither part empty".into());
    };
    let db = store.client();
    if let Some(existing) = db.user_by_name(name).await.map_err(|e| e.to_string())? {
        return Ok(existing);
    }
    let hash = daas_common::password::hash(password).map_err(|e| e.to_string())?;
    let user = daas_common::model::User { name: name.into(), password_hash: Some(hash), admin: true, ..Default::default() };
    let user = db.insert(&user).await.map_err(|e| format!("creating the administrator `{name}` failed: {e}"))?;
    tracing::info!(user = name, id = user.id, "administrator created from admin_credentials");
    Ok(user)
}

export_plugin!(PluginName::Db, start);
