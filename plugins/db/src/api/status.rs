//! `GET /status`: the database's kind and migrations (administrators).

use daas_plugin_api::{
    poem_openapi::{payload::Json, Object, OpenApi},
    sdk::{Caller, Failure},
};

use crate::Store;

/// The status route.
pub struct StatusApi(pub Store);

/// The database's state: its kind and its migrations.
#[derive(Object)]
#[oai(example)]
struct DbStatus {
    /// `sqlite`, `mariadb` or `postgres`.
    db_type: String,
    /// Applied migrations, oldest first.
    applied: Vec<String>,
    /// Migrations not applied yet (empty once started).
    pending: Vec<String>,
}

impl daas_plugin_api::poem_openapi::types::Example for DbStatus {
    fn example() -> Self {
        DbStatus {
            db_type: "sqlite".into(),
            applied: vec!["m20261122_000001_daas_objects".into(), "m20261122_000002_product_tables".into()],
            pending: Vec::new(),
        }
    }
}

#[OpenApi]
impl StatusApi {
    /// The database's kind and migrations
    ///
    /// Which database the site runs on and which schema migrations are applied
    /// (administrators only: 403 for others). Every migration is applied before the
    /// server listens, so `pending` is empty.
    #[oai(path = "/status", method = "get", operation_id = "status")]
    async fn status(&self, caller: Caller) -> Result<Json<DbStatus>, Failure> {
        caller.admin("see the database's status")?;
        let (applied, pending) = crate::database::migration_status(&self.0.tables.db).await.map_err(crate::table::db_error)?;
        Ok(Json(DbStatus { db_type: self.0.db_type.clone(), applied, pending }))
    }
}
