//! The db plugin's routes. (The CRUD API of issue 3 grows here.)

use daas_plugin_api::{
    poem_openapi::{payload::Json, ApiResponse, Object, OpenApi},
    ApiError,
};

use crate::Store;

/// The db plugin's API.
pub struct DbApi(pub Store);

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

#[derive(ApiResponse)]
enum StatusResponse {
    /// The state.
    #[oai(status = 200)]
    Ok(Json<Status>),
    /// The database does not answer.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>),
}

#[OpenApi]
impl DbApi {
    /// The database's kind and migrations.
    #[oai(path = "/status", method = "get", operation_id = "status")]
    async fn status(&self) -> StatusResponse {
        match crate::database::migration_status(&self.0.tables.db).await {
            Ok((applied, pending)) => StatusResponse::Ok(Json(Status { db_type: self.0.db_type.clone(), applied, pending })),
            Err(e) => StatusResponse::Unavailable(Json(ApiError::new("unavailable", format!("the database does not answer: {e}"), ""))),
        }
    }
}
