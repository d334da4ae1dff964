//! # db: the original's schema on sea-orm
//!
//! The only plugin that talks SQL ("only the database module has to be touched").
//! Connects to SQLite (the embedded default, a file under the site's data path, WAL
//! mode), MariaDB or PostgreSQL as `db.toml` says, applies the migrations at start-up,
//! and offers the seed's repositories to the other plugins as the `db` backend
//! ([`daas_common::protocols::Db`]). Secrets are encrypted at rest ([`secrets`]).
//!
//! Map: [`database`] connects and migrates; [`migration`] holds the schema history;
//! [`entity`] the sea-orm tables; [`objects`] the ObjectRepository; [`api`] the routes.

pub mod api;
pub mod database;
pub mod entity;
pub mod migration;
pub mod objects;
pub mod secrets;

use daas_common::{
    config::DbFile,
    protocols::{Db, DbRequest, DbResponse},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    export_plugin,
    names::PluginName,
    poem_openapi::OpenApiService,
    sdk::{PluginBuilder, PluginContext},
};

/// The plugin's state: the connection and the repositories.
#[derive(Clone)]
pub struct Store {
    /// The configured database kind.
    pub db_type: String,
    /// ObjectRepository.
    pub objects: objects::Objects,
}

impl Store {
    /// Open the configured database (migrating it) and build the repositories.
    pub async fn open(file: &DbFile, site_dir: &std::path::Path) -> Result<Store, String> {
        let secrets = secrets::Secrets::from_config(&file.db.secret_key, file.db.allow_demo_key).map_err(|e| e.to_string())?;
        let db = database::open(&file.db, site_dir).await.map_err(|e| e.to_string())?;
        let db_type = if file.db.db_type.is_empty() { "sqlite".to_string() } else { file.db.db_type.clone() };
        Ok(Store { db_type, objects: objects::Objects { db, secrets } })
    }

    /// Serve one backend request.
    pub async fn handle(&self, request: DbRequest) -> Result<DbResponse, BackendError> {
        let o = &self.objects;
        Ok(match request {
            DbRequest::Status => {
                let (applied, pending) = database::migration_status(&o.db)
                    .await
                    .map_err(|e| BackendError::new(BackendErrorKind::Unavailable, format!("database error: {e}")))?;
                DbResponse::Status { db_type: self.db_type.clone(), applied, pending }
            }
            DbRequest::CreateObject { object } => o.create(&object).await.map(|_| DbResponse::Done)?,
            DbRequest::UpdateObject { object } => o.update(&object).await.map(|_| DbResponse::Done)?,
            DbRequest::GetObject { id } => DbResponse::Object { object: o.get(&id).await?.map(Box::new) },
            DbRequest::GetObjectByDockerId { id_docker } => DbResponse::Object { object: o.by_docker_id(&id_docker).await?.map(Box::new) },
            DbRequest::GetObjectByProxmoxId { id_proxmox } => {
                DbResponse::Object { object: o.by_proxmox_id(id_proxmox).await?.map(Box::new) }
            }
            DbRequest::ObjectsAvailable { id_owner } => DbResponse::Objects { objects: o.available(id_owner).await? },
            DbRequest::DeleteObject { id } => o.delete(&id).await.map(|_| DbResponse::Done)?,
            DbRequest::SuggestVmid => DbResponse::Vmid { vmid: o.suggest_vmid().await? },
        })
    }
}

async fn start(ctx: PluginContext) -> Result<PluginBuilder, String> {
    let file: DbFile = ctx.config()?;
    let store = Store::open(&file, &ctx.site_dir).await?;
    let backend_store = store.clone();
    Ok(PluginBuilder::new()
        .api(OpenApiService::new(api::DbApi(store.clone()), "db", env!("CARGO_PKG_VERSION")).description("The database: its state."))
        .backend::<Db, _, _>(move |request| {
            let store = backend_store.clone();
            async move { store.handle(request).await }
        })
        .on_stop(move || async move {
            let _ = store.objects.db.close_by_ref().await;
        }))
}

export_plugin!(PluginName::Db, start);
