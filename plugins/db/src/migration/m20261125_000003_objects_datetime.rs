//! MariaDB: `daas_objects.created_at` and `updated_at` become `DATETIME(6)`, like every
//! timestamp of migration 2. Migration 1 let sea-query pick `TIMESTAMP`, which keeps whole
//! seconds and ends in 2038. SQLite and PostgreSQL are left as they are (their columns
//! already keep microseconds and have no such end).
//!
//! MariaDB converts each `TIMESTAMP` to `DATETIME` in the session's time zone, the same
//! zone the rows were written in, so every row keeps the UTC time the application wrote.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::MySql {
            return Ok(());
        }
        m.get_connection()
            .execute_unprepared("ALTER TABLE daas_objects MODIFY created_at DATETIME(6) NOT NULL, MODIFY updated_at DATETIME(6) NOT NULL")
            .await
            .map(|_| ())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != DbBackend::MySql {
            return Ok(());
        }
        m.get_connection()
            .execute_unprepared("ALTER TABLE daas_objects MODIFY created_at TIMESTAMP NOT NULL, MODIFY updated_at TIMESTAMP NOT NULL")
            .await
            .map(|_| ())
    }
}
