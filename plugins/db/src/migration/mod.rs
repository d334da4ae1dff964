//! Schema migrations, applied at start-up in order. A migration, once released, never
//! changes: a new schema is a new migration, so that an existing database keeps its rows.

use sea_orm_migration::prelude::*;

mod m20261122_000001_daas_objects;
mod m20261122_000002_product_tables;
mod m20261125_000003_objects_datetime;
mod m20261125_000004_roles;
mod m20261204_000005_tasks;

/// Every migration of the db plugin.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_daas_objects::Migration),
            Box::new(m20261122_000002_product_tables::Migration),
            Box::new(m20261125_000003_objects_datetime::Migration),
            Box::new(m20261125_000004_roles::Migration),
            Box::new(m20261204_000005_tasks::Migration),
        ]
    }
}
