//! `GET /status`: the database's kind and migrations (administrators).

use daas_plugin_api::{
    poem::web::Data,
    poem_openapi::{payload::Json, Object, OpenApi},
    sdk::Attributes,
    ApiError,
};

use super::crud::{caller, Failure};
use crate::Store;

/// The status route.
pub struct StatusApi(pub Store);

/// The database's state.
#[derive(Object)]
struct Status {
    /// `sqlite`, `mariadb` or `postgres`.
    db_type: String,
    /// Applied migrations, oldest first.
    applied: Vec<String>,
    /// Migrations not applied yet (empty once started).
    pending: Vec<String>,
}

#[OpenApi]
impl StatusApi {
    /// The database's kind and migrations.
    #[oai(path = "/status", method = "get", operation_id = "status")]
    async fn status(&self, attributes: Data<&Attributes>) -> Result<Json<Status>, Failure> {
        if !caller(&attributes)?.admin {
            return Err(Failure::Forbidden(Json(ApiError::new("forbidden", "only administrators see the database's status", ""))));
        }
        let (applied, pending) = crate::database::migration_status(&self.0.tables.db).await.map_err(crate::table::db_error)?;
        Ok(Json(Status { db_type: self.0.db_type.clone(), applied, pending }))
    }
}
